"""The one decision point: which run an invocation targets, from which step, with which options.

``--dry-run``, ``--explain``, the real run and the ``resume`` task all call :func:`resolve`, so
a plan never disagrees with the run it describes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import IncompatibleRunError, UnknownRunError
from ..store.structs import field, record, replace
from .context import RunOptions
from .naming import step_signature

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..store.records import Checkpoint
    from ..store.runs import RunDir, Store
    from .definition import WorkflowDefinition

__all__ = ["Decision", "Request", "RunOptions", "check_request", "merge_options", "resolve"]


@record(kw_only=False, frozen=True)
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
    #: ``--run-key`` / ``checkpoints.run_key``: ``--resume`` continues the run with this key.
    run_key: str | None = None


@record(kw_only=False, frozen=True)
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
    #: Recorded in a new run's checkpoint.json (``Request.run_key``).
    run_key: str | None = None
    #: The step list changed since the run was recorded: steps before this one are kept
    #: (unchanged name, args and code, and complete), this one and later ones run again.
    changed_at: int | None = None
    #: The run's state files as validated when it was chosen, by step (the lock is held from
    #: then on, so they are what the disk holds until this invocation writes).
    states: Mapping[int, dict[str, Any]] = field(default_factory=dict)

    def changes(self, definition: WorkflowDefinition) -> str:
        """The line saying which steps a changed step list keeps and which run again."""
        if self.changed_at is None:
            return ""
        n = self.changed_at
        again = ", ".join(definition.step_names[n:]) or "none"
        kept = "step 0" if n == 1 else f"steps 0-{n - 1}"
        return (
            f"the step list changed: keeping {kept} (completed; name, args and code "
            f"unchanged); running again: {again}"
        )


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
    keyed = request.run_key is not None and request.run_id is None
    if (request.resume or rerun_from is not None) and keyed:
        from ..store.keys import find_run_by_key

        assert request.run_key is not None
        run_dir = find_run_by_key(store, definition.name, request.run_key)
        if run_dir is None and rerun_from is not None:
            raise UnknownRunError(
                f"no run of workflow {definition.name!r} has run key {request.run_key!r} yet"
            )
        note = f"no run has run key {request.run_key!r} yet: starting it"
    elif request.resume or rerun_from is not None:
        try:
            run_dir = store.find(definition.name, request.run_id)
        except UnknownRunError:
            if request.run_id is not None or rerun_from is not None:
                raise
            note = "--resume found no run to continue"  # `--resume` alone starts one
    if run_dir is None:
        options = merge_options(defaults, definition, request, None)
        return Decision(options, note=note, run_key=request.run_key)
    cp, states = run_dir.read_checked()
    changed_at = check_compatible(cp, definition, run_dir)
    done = run_dir.marker_steps()
    if changed_at is not None:
        done &= set(range(changed_at))
        rerun_from = changed_at if rerun_from is None else min(rerun_from, changed_at)
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
        changed_at=changed_at,
        states=states,
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


def check_compatible(cp: Checkpoint, definition: WorkflowDefinition, run_dir: RunDir) -> int | None:
    """Refuse to resume a run recorded for another workflow; for a changed step list, the
    number of the first step that runs again (``None``: the list is unchanged).

    A step recorded under another spelling of its name (``build_docs`` by an earlier release,
    now ``build-docs``; ``build`` now ``docs.build``) is the same step: the run keeps the names
    it was recorded with, since its markers and state files carry them. When the list changed,
    the completed steps from step 0 on whose name, args and code are unchanged (their state's
    ``signature``) are kept; if none is, the resume is refused as before.
    """
    if cp.workflow != definition.name:
        raise IncompatibleRunError(
            f"run {run_dir.run_id} belongs to workflow {cp.workflow!r}, not {definition.name!r}",
            run_id=run_dir.run_id,
        )
    expected = list(definition.step_names)
    if len(cp.steps) == len(expected) and _kept(cp, definition, len(expected)) == len(expected):
        _adopt(cp, definition, len(expected))
        return None
    markers = run_dir.marker_steps()
    kept = 0
    for number in range(_kept(cp, definition, min(len(cp.steps), len(expected)))):
        state = run_dir.read_state(number) if number in markers else None
        if state is None or state.signature != step_signature(definition.steps[number]):
            break
        kept = number + 1
    if kept == 0:
        diff = _kept(cp, definition, min(len(cp.steps), len(expected)))
        raise IncompatibleRunError(
            f"run {run_dir.run_id} was recorded with steps [{', '.join(cp.steps)}] but "
            f"workflow {definition.name!r} now has [{', '.join(expected)}] (they differ at "
            f"step {diff}, and no completed step before it is unchanged); start a new run "
            f"with `invoke {definition.name}`",
            run_id=run_dir.run_id,
        )
    _adopt(cp, definition, kept)
    return kept


def _kept(cp: Checkpoint, definition: WorkflowDefinition, upto: int) -> int:
    """How many steps from step 0 on are recorded under one of their names."""
    for number in range(upto):
        spec = definition.steps[number]
        if cp.steps[number] != spec.name and cp.steps[number] not in spec.aliases:
            return number
    return upto


def _adopt(cp: Checkpoint, definition: WorkflowDefinition, upto: int) -> None:
    """The first ``upto`` steps keep the names the run recorded (its files carry them)."""
    for old, spec in zip(cp.steps[:upto], definition.steps[:upto], strict=True):
        spec.name = old
    definition.step_names = tuple(spec.name for spec in definition.steps)
