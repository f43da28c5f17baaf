"""The one decision point: which run an invocation targets, from which step, with which options.

``--dry-run``, ``--explain``, the real run and the ``resume`` task all call :func:`resolve`, so
a plan never disagrees with the run it describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import IncompatibleRunError, UnknownRunError
from .context import RunOptions

if TYPE_CHECKING:
    from ..store.models import Checkpoint
    from ..store.runs import RunDir, Store
    from .definition import WorkflowDefinition

__all__ = ["Decision", "Request", "RunOptions", "check_request", "merge_options", "resolve"]


@dataclass(frozen=True)
class Request:
    """What the command line asked for; ``None`` options were not given."""

    #: ``--resume``, ``--resume=ID`` or the ``resume`` task.
    resume: bool = False
    run_id: str | None = None
    #: ``--resume-from`` as typed: a step number or name.
    resume_from: str | None = None
    smart: bool | None = None
    parallel: bool | None = None
    max_workers: int | None = None


@dataclass(frozen=True)
class Decision:
    """The run to start or continue, and how."""

    options: RunOptions
    #: The run to continue; ``None`` for a new run.
    run_dir: RunDir | None = None
    checkpoint: Checkpoint | None = None
    #: ``--resume-from``: steps from this one on run again.
    rerun_from: int | None = None
    #: Steps whose marker counts (those from ``rerun_from`` on excluded).
    done: frozenset[int] = field(default_factory=frozenset)
    #: The run to resume has already completed: there is nothing to do.
    already_complete: bool = False
    #: Why a ``--resume`` starts a new run instead (no run to continue).
    note: str = ""


def resolve(
    definition: WorkflowDefinition, store: Store, request: Request, defaults: RunOptions
) -> Decision:
    """Decide the target run (latest, by id, or new), the rerun-from step and the options.

    Reads the store; writes nothing. Raises the user's errors (unknown run or step, invalid
    id, incompatible or corrupt run) before anything is run.
    """
    rerun_from = check_request(definition, store, request)
    run_dir = None
    note = ""
    if request.resume or rerun_from is not None:
        try:
            run_dir = store.find(definition.name, request.run_id)
        except UnknownRunError:
            if request.run_id is not None or rerun_from is not None:
                raise
            note = "--resume found no run to continue"  # `--resume` alone starts one
    if run_dir is None:
        return Decision(merge_options(defaults, definition, request, None), note=note)
    cp = run_dir.read_checkpoint()
    check_compatible(cp, definition, run_dir)
    done = run_dir.marker_steps()
    if rerun_from is not None:
        done -= set(range(rerun_from, len(definition.steps)))
    options = merge_options(defaults, definition, request, dict(cp.options))
    return Decision(
        replace(options, resume=True, rerun_from=rerun_from),
        run_dir,
        cp,
        rerun_from,
        frozenset(done),
        already_complete=rerun_from is None and cp.status.value == "completed",
    )


def check_request(definition: WorkflowDefinition, store: Store, request: Request) -> int | None:
    """Refuse a malformed run id or an unknown ``--resume-from`` step before anything touches
    the disk; returns the rerun-from step number."""
    if request.run_id is not None:
        store.check_run_id(definition.name, request.run_id)
    if request.resume_from is None:
        return None
    return definition.step_number(request.resume_from)


def merge_options(
    defaults: RunOptions,
    definition: WorkflowDefinition,
    request: Request,
    saved: dict[str, Any] | None,
) -> RunOptions:
    """Config < ``workflow(**options)`` < the run's saved options (on resume) < flags."""
    merged: dict[str, Any] = defaults.to_json()
    merged.update(definition.options)
    merged.update({k: v for k, v in (saved or {}).items() if k in merged})
    flags = {
        "smart": request.smart,
        "parallel": request.parallel,
        "max_workers": request.max_workers,
    }
    merged.update({k: v for k, v in flags.items() if v is not None})
    return RunOptions(
        parallel=bool(merged["parallel"]),
        smart=bool(merged["smart"]),
        max_workers=int(merged["max_workers"]) if merged["max_workers"] else None,
    )


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
