"""The run's files as plain, typed objects: what a running workflow builds, changes and writes.

``models.py`` defines the format; importing pydantic and building those models costs more than
the rest of a short run's start-up, so the run itself (a fresh run, ``--resume``) works with
these classes instead. Each mirrors its model field by field (names, order, defaults) and
writes the JSON the model would (``tests/test_records.py`` fails on any drift, and checks that
the model reads back what a record writes). Unknown keys are kept and written back, like the
models' ``extra="allow"``; the marker ignores them, like ``Marker``.

Records are read from the documents ``reading.py`` returns (checked without pydantic, or judged
by the model when the fast check refuses them): ``from_doc`` builds one from such a document,
``to_dict`` gives the document back. Standard library only, so that type-checking a plugin that
names ``StepState`` never reads pydantic either.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .jsontext import Appended, dumps, pretty
from .structs import Convert, Record, Struct, field, floats, record, timestamp
from .vocabulary import FORMAT_VERSION, RunStatus, StepStatus, iso, who_runs

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "PRETTY_LIMIT",
    "Attempt",
    "Checkpoint",
    "ExecutionMode",
    "GroupState",
    "Marker",
    "Metadata",
    "ParallelExecution",
    "SmartExecution",
    "StepState",
    "metadata",
]

#: checkpoint.json is indented up to this many steps, compact beyond (``models.Checkpoint``).
PRETTY_LIMIT = 100
#: Checkpoint fields that only grow at their end (or never change) while a run executes.
_GROWING = ("steps", "completed_steps", "durations")


@record
class ExecutionMode(Record):
    """How the run executes (``models.ExecutionMode``)."""

    auto: bool = True
    smart_execution: bool = False
    parallel: bool = False
    dry_run: bool = False


@record
class SmartExecution(Record):
    """Steps skipped instead of run (``models.SmartExecution``)."""

    enabled: bool = False
    skipped_steps: list[int] = field(default_factory=list)
    skip_reason: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)


@record
class GroupState(Record):
    """One parallel group (``models.GroupState``)."""

    steps: list[int]
    status: Literal["pending", "running", "completed", "failed", "interrupted"] = "pending"


@record
class ParallelExecution(Record):
    """Parallel groups of the run and where each stands (``models.ParallelExecution``)."""

    DECODE: ClassVar[dict[str, Convert]] = {"groups": lambda v: [GroupState.from_doc(g) for g in v]}

    enabled: bool = False
    max_workers: int | None = None
    groups: list[GroupState] = field(default_factory=list)


@record
class Metadata(Record):
    """Who ran it, where (``models.Metadata``)."""

    user: str
    hostname: str
    pid: int


@record
class Checkpoint(Record):
    """The master state of one run, ``<run>/checkpoint.json`` (``models.Checkpoint``)."""

    DECODE: ClassVar[dict[str, Convert]] = {
        "started_at": timestamp,
        "last_checkpoint": timestamp,
        "finished_at": timestamp,
        "status": RunStatus,
        "execution_mode": ExecutionMode.from_doc,
        "smart_execution": SmartExecution.from_doc,
        "parallel_execution": ParallelExecution.from_doc,
        "metadata": Metadata.from_doc,
        "durations": floats,
        "started_at_epoch": float,
    }

    version: str = FORMAT_VERSION
    workflow_id: str
    workflow: str
    project_path: str
    started_at: datetime
    last_checkpoint: datetime
    status: RunStatus = RunStatus.RUNNING
    completed_steps: list[int] = field(default_factory=list)
    current_step: int | None = 0
    total_steps: int
    steps: list[str]
    execution_mode: ExecutionMode = field(default_factory=ExecutionMode)
    smart_execution: SmartExecution = field(default_factory=SmartExecution)
    parallel_execution: ParallelExecution = field(default_factory=ParallelExecution)
    environment: dict[str, Any] = field(default_factory=dict)
    metadata: Metadata
    options: dict[str, Any] = field(default_factory=dict)
    durations: dict[str, float] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    finished_at: datetime | None = None
    run_key: str | None = None
    started_at_epoch: float | None = None
    #: The incremental encoding of the growing fields (``to_json`` beyond ``PRETTY_LIMIT``).
    _encoded: dict[str, Appended] = field(default_factory=dict, init=False)

    def to_json(self) -> bytes:
        """Rewritten as a run goes (docs/format.md): pretty for people up to 100 steps;
        compact beyond, with the fields that grow with the run (or never change) encoded
        incrementally, so that a rewrite costs about as much at step 5,000 as at step 10."""
        if self.total_steps <= PRETTY_LIMIT:
            return pretty(self.document())
        head = dumps(self.document(exclude=_GROWING), separators=(",", ":")).encode()
        parts = [head[:-1]]
        for name in _GROWING:
            encoded = self._encoded.get(name)
            if encoded is None:
                encoded = self._encoded[name] = Appended()
            parts.append(b',"' + name.encode() + b'":' + encoded.encode(getattr(self, name)))
        return b"".join(parts) + b"}\n"


@record
class Attempt(Record):
    """An earlier attempt of a step in the same run (``models.Attempt``)."""

    DECODE: ClassVar[dict[str, Convert]] = {
        "status": StepStatus,
        "started_at": timestamp,
        "started_at_epoch": float,
        "duration_seconds": float,
    }

    status: StepStatus
    started_at: datetime | None = None
    started_at_epoch: float | None = None
    duration_seconds: float | None = None
    exit_code: int | None = None
    error: str | None = None
    reason: str | None = None


@record
class StepState(Record):
    """The state of one step that started, ``<run>/state/step_NN_state.json``: what hooks
    receive as ``state`` and ``run.state_of()`` returns. The fields are those of the file
    (docs/format.md); ``to_dict()`` gives it as its JSON document."""

    DECODE: ClassVar[dict[str, Convert]] = {
        "status": StepStatus,
        "started_at": timestamp,
        "completed_at": timestamp,
        "duration_seconds": float,
        "started_at_epoch": float,
        "previous_attempts": lambda v: [Attempt.from_doc(a) for a in v],
    }

    step: int
    name: str
    status: StepStatus
    #: The step's args (``Step(args=...)``); secret-looking names are recorded as ``***``.
    args: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    exit_code: int | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Why a step was skipped (``already_complete``, ``no_relevant_changes``, a plugin's reason).
    reason: str | None = None
    #: How many times the step has started in this run (resumes included).
    attempts: int = 1
    #: While the step runs: the pid (and start time) of its current ``c.run`` child.
    child_pid: int | None = None
    child_started: int | None = None
    #: Hash of what the step ran: its name, args and code.
    signature: str | None = None
    #: ``started_at`` with sub-second precision, as Unix time.
    started_at_epoch: float | None = None
    #: The earlier attempts of this step in this run, oldest first.
    previous_attempts: list[Attempt] = field(default_factory=list)

    def to_json(self) -> bytes:
        return pretty(self.document())

    def as_attempt(self) -> Attempt:
        """This state as an earlier attempt, read when the step starts again: its process is
        gone, so a state still ``running`` was interrupted."""
        status = self.status
        if status is StepStatus.RUNNING:
            status = StepStatus.INTERRUPTED
        return Attempt(
            status=status,
            started_at=self.started_at,
            started_at_epoch=self.started_at_epoch,
            duration_seconds=self.duration_seconds,
            exit_code=self.exit_code,
            error=self.errors[-1] if self.errors else None,
            reason=self.reason,
        )


@record
class Marker(Struct):
    """A completion marker ``step_NN.complete`` (``models.Marker``): KEY=VALUE lines a POSIX
    shell can ``source``. Unknown keys are ignored when read, as the model ignores them."""

    STEP: int
    NAME: str
    COMPLETED_AT: datetime
    DURATION_SECONDS: float
    #: Always 0: a marker is written only for a step that succeeded.
    EXIT_CODE: int = 0

    def to_text(self) -> bytes:
        values = {
            "STEP": str(self.STEP),
            "NAME": self.NAME,
            "COMPLETED_AT": iso(self.COMPLETED_AT),
            "DURATION_SECONDS": f"{self.DURATION_SECONDS:.3f}",
            "EXIT_CODE": str(self.EXIT_CODE),
        }
        return "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()).encode()

    def to_dict(self) -> dict[str, Any]:
        """The marker as the document ``reading.load_marker`` returns."""
        return {
            "STEP": self.STEP,
            "NAME": self.NAME,
            "COMPLETED_AT": iso(self.COMPLETED_AT),
            "DURATION_SECONDS": self.DURATION_SECONDS,
            "EXIT_CODE": self.EXIT_CODE,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Marker:
        """The marker of a checked document (``reading.load_marker``)."""
        return cls(
            STEP=doc["STEP"],
            NAME=doc["NAME"],
            COMPLETED_AT=timestamp(doc["COMPLETED_AT"]),
            DURATION_SECONDS=float(doc["DURATION_SECONDS"]),
            EXIT_CODE=doc.get("EXIT_CODE", 0),
        )


def metadata() -> Metadata:
    """Who writes the run now: user, host and process (spec: ``metadata``)."""
    user, hostname, pid = who_runs()
    return Metadata(user=user, hostname=hostname, pid=pid)
