"""What a running step and a plugin see: ``current_step()``, ``RunInfo`` and ``StepInfo``."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import NotInStepError
from .definition import find_step

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from invoke import Task

    from .definition import StepSpec

    class _StateSource(Protocol):
        """What a run's directory gives ``outputs_of`` (``store.rundir.RunDir``). A protocol, so
        type-checking a tasks.py that imports this package never reads pydantic's types."""

        def read_state(self, step: int) -> Any: ...


__all__ = [
    "RunInfo",
    "RunOptions",
    "StepInfo",
    "current_step",
    "entered_step",
    "running_steps",
]

_CURRENT: contextvars.ContextVar[StepInfo] = contextvars.ContextVar("invoke_checkpoints_step")
#: Every step executing in this process (threads a step starts see it when it is alone).
_RUNNING: list[StepInfo] = []
_RUNNING_LOCK = threading.Lock()


@dataclass(frozen=True)
class RunOptions:
    """Execution options of a run; saved in checkpoint.json and restored on resume."""

    parallel: bool = False
    #: Smart execution (``--smart`` / ``--no-smart``): skip steps whose inputs are unchanged.
    smart: bool = True
    max_workers: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"parallel": self.parallel, "smart": self.smart, "max_workers": self.max_workers}


@dataclass(eq=False)
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
    #: Invoke's ``--dry``: commands are echoed, not run, and nothing is recorded.
    dry: bool = False
    _dir: _StateSource | None = field(default=None, repr=False)
    _outputs: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    def step_number(self, step: int | str) -> int:
        """The number of a step given by number or name."""
        return find_step(self.name, self.steps, step, self.workflow_id or None)

    def outputs_of(self, step: int | str) -> dict[str, Any]:
        """The saved outputs of an earlier step (by number or name); ``{}`` if it saved none."""
        number = self.step_number(step)
        if number not in self._outputs and self._dir is not None:
            state = self._dir.read_state(number)
            self._outputs[number] = dict(state.outputs) if state is not None else {}
        return self._outputs.get(number, {})


@dataclass(eq=False)
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
    #: Saved into the step's state file when the step ends.
    outputs: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, spec: StepSpec, run: RunInfo) -> StepInfo:
        """The step as the engine and plugins see it."""
        return cls(spec.number, spec.name, spec.task, run, dict(spec.args), spec.inputs)

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
