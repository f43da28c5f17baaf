"""Finding the run to resume and checking it may be resumed by this definition."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import IncompatibleRunError, UnknownRunError

if TYPE_CHECKING:
    from ..run.definition import WorkflowDefinition
    from .models import Checkpoint
    from .runs import RunDir, Store

__all__ = ["check_compatible", "load_run"]


def check_compatible(cp: Checkpoint, definition: WorkflowDefinition, run_dir: RunDir) -> None:
    """Refuse to resume a run recorded for another workflow or another list of steps."""
    expected = list(definition.step_names)
    if cp.workflow != definition.name:
        raise IncompatibleRunError(
            f"run {run_dir.run_id} belongs to workflow {cp.workflow!r}, not {definition.name!r}",
            run_id=run_dir.run_id,
        )
    if cp.steps != expected:
        diff = next(
            (i for i, (a, b) in enumerate(zip(cp.steps, expected, strict=False)) if a != b),
            min(len(cp.steps), len(expected)),
        )
        raise IncompatibleRunError(
            f"run {run_dir.run_id} was recorded with steps [{', '.join(cp.steps)}] but "
            f"workflow {definition.name!r} now has [{', '.join(expected)}] (they differ at "
            f"step {diff}); start a new run with `invoke {definition.name}`",
            run_id=run_dir.run_id,
        )


def load_run(store: Store, definition: WorkflowDefinition, run_id: str | None) -> RunDir:
    """The run named ``run_id``, or the latest run; ``UnknownRunError`` when there is none."""
    name = definition.name
    if run_id is None:
        run_id = store.latest(name)
        if run_id is None:
            raise UnknownRunError(f"no run of workflow {name!r} in {store.root} yet")
    return store.run(name, run_id)
