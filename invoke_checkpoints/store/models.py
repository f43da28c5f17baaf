"""The on-disk format: pydantic v2 models for checkpoint.json, step markers and step state.

Field names follow the user's specification (``shared/spec/checkpoints-readme.md``). These
models are the one definition of the format: the JSON Schemas the fast readers check against
are generated from them, they judge every file those readers refuse, and the plain records a
run writes (``records.py``) are tested against them field by field. This module imports
pydantic, so a healthy run, its resume and ``status`` never import it.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema, to_json

from ..errors import CorruptCheckpointError
from .vocabulary import (
    FORMAT_VERSION,
    RunStatus,
    StepStatus,
    check_version,
    iso,
    load_object,
    utcnow,
)

__all__ = [
    "FORMAT_VERSION",
    "Attempt",
    "Checkpoint",
    "ExecutionMode",
    "GroupState",
    "Marker",
    "Metadata",
    "ParallelExecution",
    "RunStatus",
    "SmartExecution",
    "StepState",
    "StepStatus",
    "utcnow",
]

_M = TypeVar("_M", bound=BaseModel)
#: checkpoint.json is indented up to this many steps, compact beyond.
_PRETTY_LIMIT = 100

#: A UTC timestamp, written like the spec's ``2025-12-18T12:15:30Z``.
Timestamp = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class _Model(BaseModel):
    # Unknown keys written by plugins or newer minor versions are kept, not dropped.
    model_config = ConfigDict(extra="allow")


class ExecutionMode(_Model):
    """How the run executes (spec: ``execution_mode``)."""

    auto: bool = True
    smart_execution: bool = False
    parallel: bool = False
    dry_run: bool = False


class SmartExecution(_Model):
    """Steps skipped instead of run (spec: ``smart_execution``)."""

    enabled: bool = False
    skipped_steps: list[int] = Field(default_factory=list)
    #: Reason of the most recent skip, as in the spec.
    skip_reason: str | None = None
    #: Reason per skipped step (keys are step numbers as strings).
    reasons: dict[str, str] = Field(default_factory=dict)


class GroupState(_Model):
    """One parallel group (spec: ``parallel_execution.groups[]``)."""

    steps: list[int]
    status: Literal["pending", "running", "completed", "failed", "interrupted"] = "pending"


class ParallelExecution(_Model):
    """Parallel groups of the run and where each stands (spec: ``parallel_execution``)."""

    enabled: bool = False
    max_workers: int | None = None
    groups: list[GroupState] = Field(default_factory=list)


class Metadata(_Model):
    """Who ran it, where (spec: ``metadata``)."""

    user: str
    hostname: str
    pid: int


class Checkpoint(_Model):
    """The master state of one run: ``<run>/checkpoint.json``."""

    version: str = FORMAT_VERSION
    workflow_id: str
    workflow: str
    project_path: str
    started_at: Timestamp
    last_checkpoint: Timestamp
    status: RunStatus = RunStatus.RUNNING
    completed_steps: list[int] = Field(default_factory=list)
    current_step: int | None = 0
    total_steps: int
    steps: list[str]
    execution_mode: ExecutionMode = Field(default_factory=ExecutionMode)
    smart_execution: SmartExecution = Field(default_factory=SmartExecution)
    parallel_execution: ParallelExecution = Field(default_factory=ParallelExecution)
    environment: dict[str, JsonValue] = Field(default_factory=dict)
    metadata: Metadata
    #: Workflow options of the run, restored on resume.
    options: dict[str, JsonValue] = Field(default_factory=dict)
    #: Duration of each completed step by name (read by the ETA of later runs).
    durations: dict[str, float] = Field(default_factory=dict)
    #: ``current_step().run.vars``: JSON values shared by all steps, resume included.
    vars: dict[str, JsonValue] = Field(default_factory=dict)
    #: Warnings about the run itself (e.g. a plugin hook that raised).
    warnings: list[str] = Field(default_factory=list)
    finished_at: Timestamp | None = None
    #: ``--run-key`` / ``checkpoints.run_key`` (e.g. a CI run id): ``--resume`` with the same
    #: key continues this run, on any machine sharing the store.
    run_key: str | None = None
    #: ``started_at`` with sub-second precision, as Unix time (format 1.1; null in 1.0 runs).
    started_at_epoch: float | None = None

    def to_json(self) -> bytes:
        """As a run writes it (``records.Checkpoint.to_json``, docs/format.md): pretty up to
        100 steps; compact beyond, with the fields that grow with the run last."""
        if self.total_steps <= _PRETTY_LIMIT:
            return _dump(self)
        head = self.model_dump_json(exclude=set(_GROWING)).encode()
        parts = [head[:-1]]
        for name in _GROWING:
            parts.append(b',"' + name.encode() + b'":' + to_json(getattr(self, name)))
        return b"".join(parts) + b"}\n"

    @classmethod
    def from_json(cls, data: bytes, *, source: str) -> Checkpoint:
        raw = load_object(data, source)
        check_version(raw, source)
        return _validate(cls, raw, source)


class Attempt(_Model):
    """An earlier attempt of a step in the same run (format 1.1): what its state file said
    before the step started again (``StepState.previous_attempts``)."""

    status: StepStatus
    started_at: Timestamp | None = None
    #: ``started_at`` with sub-second precision, as Unix time (null if it was not recorded).
    started_at_epoch: float | None = None
    duration_seconds: float | None = None
    exit_code: int | None = None
    #: The last error of that attempt (``errors[-1]`` of its state).
    error: str | None = None
    reason: str | None = None


class StepState(_Model):
    """State of one step that started: ``<run>/state/step_NN_state.json``."""

    step: int
    name: str
    status: StepStatus
    #: The step's args (``Step(args=...)``); secret-looking names are recorded as ``***``.
    args: dict[str, JsonValue] = Field(default_factory=dict)
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    duration_seconds: float | None = None
    exit_code: int | None = None
    outputs: dict[str, JsonValue] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    #: Why a step was skipped (``already_complete``, ``no_relevant_changes``, a plugin's reason).
    reason: str | None = None
    #: How many times the step has started in this run (resumes included).
    attempts: int = 1
    #: While the step runs: the pid (and process group) of its current ``c.run`` child, and
    #: that process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22;
    #: ``None`` where there is no /proc). A resume refuses while that process group lives.
    child_pid: int | None = None
    child_started: int | None = None
    #: Hash of what the step ran: its name, args and code (its task's and its pre/post
    #: tasks'). A resume of a run whose step list changed keeps the completed steps, from the
    #: first on, whose signature is unchanged.
    signature: str | None = None
    #: ``started_at`` with sub-second precision, as Unix time (format 1.1; null in 1.0 runs).
    started_at_epoch: float | None = None
    #: The earlier attempts of this step in this run, oldest first (format 1.1): appended when
    #: the step starts again, so the state file of a step that ran once carries none.
    previous_attempts: list[Attempt] = Field(default_factory=list)

    def to_json(self) -> bytes:
        return _dump(self)

    @classmethod
    def from_json(cls, data: bytes, *, source: str) -> StepState:
        return _validate(cls, load_object(data, source), source)


#: A marker key: what this version writes, and what a newer one may add (ignored here).
_MARKER_KEY = re.compile(r"[A-Z][A-Z0-9_]*\Z", re.ASCII)


class Marker(BaseModel):
    """A completion marker ``step_NN.complete``: KEY=VALUE lines a POSIX shell can ``source``.

    Unknown keys (a newer minor version's) are accepted and ignored, like the JSON files'."""

    model_config = ConfigDict(extra="ignore")

    STEP: int
    NAME: str
    COMPLETED_AT: Timestamp
    DURATION_SECONDS: float
    #: Always 0: a marker is written only for a step that succeeded.
    EXIT_CODE: int = Field(default=0, ge=0, le=0)

    def to_text(self) -> bytes:
        values = {
            "STEP": str(self.STEP),
            "NAME": self.NAME,
            "COMPLETED_AT": iso(self.COMPLETED_AT),
            "DURATION_SECONDS": f"{self.DURATION_SECONDS:.3f}",
            "EXIT_CODE": str(self.EXIT_CODE),
        }
        return "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items()).encode()

    @classmethod
    def from_text(cls, data: bytes, *, source: str) -> Marker:
        fields: dict[str, str] = {}
        try:
            for line in data.decode("utf-8").splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                key, sep, value = line.partition("=")
                if not sep or not _MARKER_KEY.match(key.strip()):
                    raise ValueError(f"line {line[:40]!r} is not KEY=VALUE")
                parts = shlex.split(value)
                fields[key.strip()] = parts[0] if parts else ""
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            raise CorruptCheckpointError(f"{source}: not a valid marker ({exc})") from None
        return _validate(cls, fields, source)


#: Checkpoint fields that only grow at their end (or never change) while a run executes.
_GROWING = ("steps", "completed_steps", "durations")


def _dump(model: BaseModel) -> bytes:
    return model.model_dump_json(indent=2).encode() + b"\n"


def _validate(cls: type[_M], raw: dict[str, Any], source: str) -> _M:
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise CorruptCheckpointError(
            f"{source}: invalid field '{where}' ({first['msg']})"
        ) from None


class _WithFactoryDefaults(GenerateJsonSchema):
    """Also writes the defaults made by a ``default_factory``: the fast readers fill a missing
    field from the schema's ``default``, so every defaulted field must have one."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``model`` as shipped in ``store/schemas/`` (serialized form)."""
    return model.model_json_schema(mode="serialization", schema_generator=_WithFactoryDefaults)


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of each on-disk file, keyed by its file name in ``store/schemas/``."""
    return {
        "checkpoint.schema.json": json_schema(Checkpoint),
        "step_state.schema.json": json_schema(StepState),
        "marker.schema.json": json_schema(Marker),
    }
