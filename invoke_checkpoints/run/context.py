"""What a running step and a plugin see: ``current_step()``, ``RunInfo`` and ``StepInfo``."""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import NotInStepError
from .definition import find_step

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from invoke import Task

    from ..store.runs import RunDir
    from .definition import StepSpec

__all__ = ["RunInfo", "RunOptions", "StepInfo", "current_step", "entered_step"]

_CURRENT: contextvars.ContextVar[StepInfo] = contextvars.ContextVar("invoke_checkpoints_step")


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
    _dir: RunDir | None = field(default=None, repr=False)
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
    """The step executing right now, from inside a task run by a workflow."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise NotInStepError(
            "current_step() was called outside a workflow step; run the task through its "
            "workflow (e.g. `invoke workflow`)"
        ) from None


@contextlib.contextmanager
def entered_step(step: StepInfo) -> Iterator[StepInfo]:
    """Make ``step`` what ``current_step()`` returns in this thread while the block runs."""
    token = _CURRENT.set(step)
    try:
        yield step
    finally:
        _CURRENT.reset(token)
