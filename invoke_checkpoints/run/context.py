"""What a running step and a plugin see: ``current_step()``, ``RunInfo``, ``StepInfo`` and
``RunOptions``; and ``HookInterrupted``, what a hook call abandoned by Ctrl-C/SIGTERM raises."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import threading
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NotInStepError
from ..store.structs import field, record
from .definition import find_step

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from invoke import Task

    from ..store.records import StepState
    from .definition import StepSpec

    class _StateSource(Protocol):
        """What a run's directory gives ``outputs_of`` (``store.rundir.RunDir``). A protocol, so
        type-checking a tasks.py that imports this package reads only the records (standard
        library), never the readers behind ``RunDir``, which reach pydantic."""

        def read_state(self, step: int) -> StepState | None: ...


__all__ = [
    "GRACE_SECONDS",
    "HookInterrupted",
    "RunInfo",
    "RunOptions",
    "StepInfo",
    "current_step",
    "entered_step",
    "running_steps",
]

#: After Ctrl-C / SIGTERM, how long the plugin hooks still running, or called afterwards
#: (``step_failed``, ``workflow_finish``), may take in all before each is abandoned (built-in
#: plugins excepted: they are quick and always called).
GRACE_SECONDS = 0.5

_CURRENT: contextvars.ContextVar[StepInfo] = contextvars.ContextVar("invoke_checkpoints_step")
#: Every step executing in this process (threads a step starts see it when it is alone).
_RUNNING: list[StepInfo] = []
_RUNNING_LOCK = threading.Lock()


class HookInterrupted(BaseException):
    """Raised inside a hook implementation that Ctrl-C / SIGTERM (or the end of the grace
    period after one) abandons; the host reports it, the run is recorded ``interrupted``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@record(kw_only=False, frozen=True)
class RunOptions:
    """The options in force for one invocation.

    ``parallel``, ``smart`` and ``max_workers`` are saved in checkpoint.json and restored on
    resume; ``dry_run``, ``resume`` and ``rerun_from`` describe this invocation only.
    """

    parallel: bool = False
    #: Smart execution (``--smart`` / ``--no-smart``): skip steps whose inputs are unchanged.
    smart: bool = True
    max_workers: int | None = None
    #: ``--dry-run`` / the plan of ``--explain``: hooks are asked, nothing runs or is written.
    dry_run: bool = False
    #: This invocation continues an earlier run (``--resume``, ``--resume-from``, ``resume``).
    resume: bool = False
    #: ``--resume-from``: the step number from which steps run again.
    rerun_from: int | None = None

    def to_json(self) -> dict[str, Any]:
        """What is saved with the run (the per-invocation options are not)."""
        return {"parallel": self.parallel, "smart": self.smart, "max_workers": self.max_workers}


@record(kw_only=False, eq=False, slots=False)
class RunInfo:
    """A run as steps and plugins see it."""

    #: ``<name>_YYYYMMDD_HHMMSS[_N]``; empty when checkpoints are disabled or in a dry run.
    workflow_id: str
    #: The workflow's name (``workflow`` by default).
    name: str
    #: The run directory (``None`` when nothing is written).
    path: Path | None
    #: Ordered step names.
    steps: tuple[str, ...]
    #: running, completed, failed or interrupted.
    status: str = "running"
    #: JSON values persisted for the whole run, resume included.
    vars: dict[str, Any] = field(default_factory=dict)
    #: The options in force for this invocation.
    options: RunOptions = field(default_factory=RunOptions)
    #: When the run started (UTC; a resumed run keeps its first start). For a dry run or a
    #: run without checkpoints: when this invocation started.
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    #: ``checkpoints.enabled``: ``False`` when the steps run without writing anything (then
    #: ``workflow_id`` is ``""`` and ``path`` ``None``, as in a dry run, where
    #: ``options.dry_run`` is true instead).
    enabled: bool = True
    #: Invoke's ``--dry``: commands are echoed, not run, and nothing is recorded.
    dry: bool = False
    _dir: _StateSource | None = field(default=None, repr=False)
    _outputs: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: ``checkpoints.plugin_config``: plugin name -> its section.
    _plugin_config: dict[str, Any] = field(default_factory=dict, repr=False)
    #: The latest state of each step this invocation wrote (read from disk otherwise).
    _states: dict[int, StepState] = field(default_factory=dict, repr=False)

    def step_number(self, step: int | str) -> int:
        """The number of a step given by number or name."""
        return find_step(self.name, self.steps, step, self.workflow_id or None)

    def config(self, plugin: str) -> dict[str, Any]:
        """The plugin's own section, ``checkpoints.plugin_config.<plugin>`` (``{}`` if unset).

        A deep copy: changing it changes nothing for other hooks or plugins.
        """
        return copy.deepcopy(dict(self._plugin_config.get(plugin) or {}))

    def state_of(self, step: int | str) -> StepState | None:
        """A step's state as last recorded (by number or name): a ``StepState``, or ``None``
        if it has none yet.

        In this invocation: exactly what was last written to its state file (also without
        checkpoints); for a step of an earlier session of a resumed run: read from disk.
        """
        number = self.step_number(step)
        if number in self._states:
            return self._states[number]
        return self._dir.read_state(number) if self._dir is not None else None

    def record_state(self, state: StepState) -> None:
        """Internal: the engine notes each state it writes (what ``state_of`` returns).

        With a run directory, a finished step's state is not kept: ``state_of`` reads it back
        from its file (a 10,000-step run would otherwise hold every state in memory). A
        running one is kept, as its file may not be written yet."""
        if self._dir is not None and state.status.value not in ("running",):
            self._states.pop(state.step, None)
            return
        self._states[state.step] = state

    def outputs_of(self, step: int | str) -> dict[str, Any]:
        """The saved outputs of an earlier step (by number or name); ``{}`` if it saved none."""
        number = self.step_number(step)
        if number in self._outputs:
            return self._outputs[number]
        state = self.state_of(number)  # from memory without a run directory (checkpoints off)
        if state is None:
            return {}  # not cached: the step may still run in this invocation
        outputs = dict(state.outputs)
        if str(getattr(state.status, "value", state.status)) in ("completed", "skipped"):
            self._outputs[number] = outputs  # final for this invocation
        return outputs


@record(kw_only=False, eq=False, slots=False)
class StepInfo:
    """One step of a run; ``current_step()`` returns the one executing."""

    number: int
    name: str
    task: Task[Any]
    run: RunInfo
    #: Keyword arguments the task is called with (``Step(args=...)``).
    args: dict[str, Any] = field(default_factory=dict)
    #: Glob patterns of the step's input files (``Step(inputs=...)``).
    inputs: tuple[str, ...] = ()
    #: ``Step(tags=...)``.
    tags: frozenset[str] = frozenset()
    #: ``Step(meta=...)``: JSON values for plugins.
    meta: dict[str, Any] = field(default_factory=dict)
    #: The index of the step's parallel group (``None``: not in a group).
    group: int | None = None
    #: Saved into the step's state file when the step ends.
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, spec: StepSpec, run: RunInfo) -> StepInfo:
        """The step as the engine and plugins see it."""
        return cls(
            spec.number,
            spec.name,
            spec.task,
            run,
            dict(spec.args),
            spec.inputs,
            spec.tags,
            copy.deepcopy(spec.meta) if spec.meta else {},
            spec.group,
        )

    def warn(self, message: str) -> None:
        """Record a warning in the step's state file (``warnings``)."""
        self.warnings.append(str(message))


def current_step() -> StepInfo:
    """The step executing right now, from inside a task run by a workflow.

    From the step's own thread, and from threads the step starts: while one step runs (a
    sequential step, or one left in a parallel group) any thread of the process gets it. While
    several steps of a parallel group run, a thread a step started gets its step when started
    with the step's context (``pool.submit(contextvars.copy_context().run, fn)``).
    """
    try:
        return _CURRENT.get()
    except LookupError:
        pass
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    if len(running) == 1:
        return running[0]
    if running:
        names = ", ".join(s.name for s in running)
        raise NotInStepError(
            f"current_step() was called from a thread no step owns while parallel steps run "
            f"({names}); start the thread with the step's context: "
            "pool.submit(contextvars.copy_context().run, fn, ...)"
        )
    raise NotInStepError(
        "current_step() was called outside a workflow step; run the task through its "
        "workflow (e.g. `invoke workflow`)"
    )


def running_steps() -> list[StepInfo]:
    """The steps executing in this process now, in the order they started."""
    with _RUNNING_LOCK:
        return list(_RUNNING)


@contextlib.contextmanager
def entered_step(step: StepInfo) -> Iterator[StepInfo]:
    """Make ``step`` what ``current_step()`` returns in this thread while the block runs."""
    token = _CURRENT.set(step)
    with _RUNNING_LOCK:
        _RUNNING.append(step)
    try:
        yield step
    finally:
        with _RUNNING_LOCK:
            _RUNNING.remove(step)
        _CURRENT.reset(token)
