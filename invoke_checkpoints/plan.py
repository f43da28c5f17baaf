"""``--dry-run``: what a run or resume would do, step by step, without writing anything."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import RunInfo, StepInfo
from .engine import check_compatible, load_run
from .errors import UnknownRunError
from .store import marker_name

if TYPE_CHECKING:
    from .collection import WorkflowDefinition
    from .config import Settings
    from .manager import PluginHost
    from .store import Store

__all__ = ["print_plan"]


def print_plan(
    definition: WorkflowDefinition,
    store: Store,
    plugins: PluginHost,
    settings: Settings,
    wants_resume: bool,
    run_id: str | None,
    rerun_from: int | None,
) -> None:
    """Print one line per step: would run, complete, or skipped, and why. Writes nothing."""
    done: set[int] = set()
    run = RunInfo("", definition.name, None, definition.step_names)
    header = f"dry run of workflow {definition.name!r}: a new run (nothing is written)"
    if not settings.enabled:
        header = f"dry run of workflow {definition.name!r}: checkpoints disabled, steps run plainly"
    elif wants_resume:
        try:
            run_dir = load_run(store, definition, run_id)
        except UnknownRunError:
            if run_id is not None or rerun_from is not None:
                raise
        else:
            cp = run_dir.read_checkpoint()
            check_compatible(cp, definition, run_dir)
            done = run_dir.marker_steps()
            if rerun_from is not None:
                done -= set(range(rerun_from, len(definition.steps)))
            elif cp.status.value == "completed":
                print(f"run {run_dir.run_id} already completed; --resume would run nothing")
                return
            run = RunInfo(
                run_dir.run_id,
                definition.name,
                run_dir.path,
                definition.step_names,
                vars=dict(cp.vars),
                _dir=run_dir,
            )
            header = (
                f"dry run of workflow {definition.name!r}: resume {run_dir.run_id} "
                "(nothing is written)"
            )
    print(header)
    width = max(len(n) for n in definition.step_names)
    for spec in definition.steps:
        if spec.number in done:
            what = f"complete (marker {marker_name(spec.number)})"
        elif rerun_from is not None and spec.number >= rerun_from and wants_resume:
            what = f"would run (--resume-from={rerun_from})"
        else:
            info = StepInfo(spec.number, spec.name, spec.task, run)
            reason = plugins.first("checkpoints_should_skip_step", run=run, step=info)
            what = f"skipped ({reason})" if reason else "would run"
        print(f"  {spec.number:>3}  {spec.name:<{width}}  {what}")
