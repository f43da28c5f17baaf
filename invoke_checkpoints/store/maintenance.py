"""Listing and cleaning runs: ``<workflow>.list``, ``<workflow>.clean`` and automatic retention."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, UntrustedStoreError
from .reading import parse_timestamp
from .runs import run_started
from .status import effective_status
from .structs import Struct, record
from .vocabulary import iso

if TYPE_CHECKING:
    from .runs import Store

__all__ = ["RunSummary", "auto_clean", "clean_runs", "summarize"]

_DAY = 86_400.0


@record(kw_only=False)
class RunSummary(Struct):
    """One line of ``<workflow>.list`` (and its JSON object)."""

    run_id: str
    status: str
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    completed: int
    total: int | None
    size_bytes: int
    #: Why a run is listed as ``corrupt`` or ``refused`` (not its user's: see docs/format.md).
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as its JSON object: the fields, in order."""
        return dict(zip(self.FIELDS, self._VALUES(self), strict=True))


def summarize(store: Store, workflow: str, run_id: str, active: str | None) -> RunSummary:
    """A run's summary; a corrupt run is reported as ``corrupt`` with the reason, never raised."""
    size, done = 0, set()
    try:
        run_dir = store.run(workflow, run_id)
        size, done = run_dir.size_bytes(), run_dir.marker_steps()
        cp = run_dir.checkpoint_doc()
    except CheckpointError as exc:
        started = iso(run_started(run_id))
        # A run another user could have planted or changed is "refused", not "corrupt".
        shown = "refused" if isinstance(exc, UntrustedStoreError) else "corrupt"
        return RunSummary(run_id, shown, started, None, None, len(done), None, size, str(exc))
    status = effective_status(cp["status"], run_id, active, run_dir)
    started_at = parse_timestamp(cp["started_at"])
    end = cp["finished_at"] or (cp["last_checkpoint"] if status != "running" else None)
    duration = (
        (parse_timestamp(end) - started_at).total_seconds()
        if end
        else time.time() - started_at.timestamp()
    )
    return RunSummary(
        run_id,
        status,
        cp["started_at"],
        cp["finished_at"],
        round(duration, 3),
        len(done),
        cp["total_steps"],
        size,
    )


def list_runs(store: Store, workflow: str, *, limit: int | None) -> list[RunSummary]:
    """The most recent ``limit`` runs (all with ``None``), newest first."""
    ids = store.newest(workflow, limit) if limit is not None else store.run_ids(workflow)[::-1]
    active = store.active_run(workflow) if ids else None
    return [summarize(store, workflow, run_id, active) for run_id in ids]


@record(kw_only=False)
class CleanPlan:
    """What ``clean`` removes, and what it keeps on purpose."""

    remove: list[str]
    kept_active: str | None
    freed_bytes: int


def _older(store: Store, run_id: str, now: float, days: float) -> bool:
    """Whether the run's last activity is more than ``days`` ago: a week-old run resumed
    yesterday is not old. A run that started within ``days`` is not old either, which its id
    says without asking the store (a request per run in a bucket)."""
    started = run_started(run_id).timestamp()
    if (now - started) / _DAY <= days:
        return False
    mtime = store.backend.mtime(f"{run_id}/checkpoint.json") or 0.0
    return (now - max(mtime, started)) / _DAY > days


def plan_clean(
    store: Store,
    workflow: str,
    *,
    older_than: float | None,
    keep: int | None,
    everything: bool,
    exclude: tuple[str, ...] = (),
) -> CleanPlan:
    """Choose runs to remove: every run with ``everything``, else those older than
    ``older_than`` days (every run when ``None``); the newest ``keep`` runs are spared either
    way. Never the active run or ``exclude``.
    """
    ids = store.run_ids(workflow)
    active = store.active_run(workflow) if ids else None
    protected = set(exclude) | ({active} if active else set())
    newest = set(ids[-keep:]) if keep else set()
    now = time.time()
    remove = []
    for run_id in ids:
        if run_id in protected or run_id in newest:
            continue
        if everything or older_than is None or _older(store, run_id, now, older_than):
            remove.append(run_id)
    freed = sum(_size(store, workflow, r) for r in remove)
    return CleanPlan(remove, active, freed)


def _size(store: Store, workflow: str, run_id: str) -> int:
    try:
        return store.run(workflow, run_id).size_bytes()
    except CheckpointError:
        return 0  # a damaged run: clean_runs refuses it (or auto-clean keeps it)


def clean_runs(store: Store, workflow: str, plan: CleanPlan, *, strict: bool) -> list[str]:
    """Delete the planned runs; ``strict``: a corrupt one among them aborts before any delete."""
    healthy = []
    for run_id in plan.remove:
        try:
            store.run(workflow, run_id).checkpoint_doc()
        except CheckpointError as exc:  # corrupt, or written by a newer format: keep it
            if strict:
                raise CheckpointError(
                    f"{exc}; nothing was removed: repair or move the run away, then clean again",
                    run_id=run_id,
                    path=exc.path,
                ) from None
            continue
        healthy.append(run_id)
    for run_id in healthy:
        if store.backend.kind(run_id) != "dir":  # never follow a link out of the store
            continue
        store.backend.remove_run(run_id, f".deleting-{run_id}-{os.getpid()}")
    return healthy


def auto_clean(
    store: Store, workflow: str, retention_days: float, keep_run: str | None
) -> list[str]:
    """Retention at the start of a run: runs older than ``retention_days``; 0 keeps everything."""
    if retention_days <= 0:
        return []
    plan = plan_clean(
        store,
        workflow,
        older_than=float(retention_days),
        keep=None,
        everything=False,
        exclude=(keep_run,) if keep_run else (),
    )
    return clean_runs(store, workflow, plan, strict=False)


def list_document(workflow: str, store: Store, rows: list[RunSummary]) -> dict[str, Any]:
    """The ``--json`` document of ``<workflow>.list``."""
    return {"workflow": workflow, "store": str(store.root), "runs": [r.to_dict() for r in rows]}
