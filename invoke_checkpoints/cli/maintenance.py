"""``<workflow>.clean`` and ``<workflow>.repair``: the commands that remove or rewrite runs."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from ..errors import CheckpointError
from .commands import settings_store, user_errors

if TYPE_CHECKING:
    from invoke import Context

    from ..run.definition import WorkflowDefinition
    from ..store.runs import Store

__all__ = ["clean_command", "repair_command"]


def clean_command(
    c: Context,
    definition: WorkflowDefinition,
    *,
    older_than: float | None,
    keep: int | None,
    everything: bool,
    dry_run: bool,
) -> None:
    """``invoke <workflow>.clean``: remove old runs; never the active one."""
    from ..plugins.formatting import human_size
    from ..store.maintenance import clean_runs, plan_clean

    with user_errors(definition, c):
        settings, store = settings_store(c, definition)
        if older_than is not None and older_than < 0:
            raise CheckpointError(f"--older-than must be >= 0 days, got {older_than}")
        if keep is not None and keep < 0:
            raise CheckpointError(f"--keep must be >= 0, got {keep}")
        if not everything and older_than is None:
            # --keep alone protects the newest N from the retention policy; it removes nothing
            # the policy would keep.
            if settings.retention_days <= 0:
                print("checkpoints.retention_days is 0 (keep forever): nothing to clean")
                return
            older_than = float(settings.retention_days)
        with contextlib.ExitStack() as held:
            if not dry_run and (store.backend.remote or store.root.is_dir()):
                # Choosing and deleting under the runs guard: an invocation that holds the
                # workflow lock has either recorded its run (kept) or not chosen one yet. In a
                # bucket the guard is the workflow's lease: refused while a run holds it.
                held.enter_context(store.runs_guard(definition.name))
                store.sweep(definition.name)
            plan = plan_clean(
                store, definition.name, older_than=older_than, keep=keep, everything=everything
            )
            if plan.kept_active:
                print(f"keeping {plan.kept_active}: it is running now")
            if dry_run:
                for run_id in plan.remove:
                    print(f"would remove {run_id}")
                freed = human_size(plan.freed_bytes)
                print(f"would remove {len(plan.remove)} run(s), freeing {freed}")
                return
            removed = clean_runs(store, definition.name, plan, strict=True)
        for run_id in removed:
            print(f"removed {run_id}")
        print(f"removed {len(removed)} run(s), freed {human_size(plan.freed_bytes)}")


def repair_command(
    c: Context, definition: WorkflowDefinition, run_id: str | None, *, dry_run: bool
) -> None:
    """``invoke <workflow>.repair``: rebuild checkpoint.json from markers and state files,
    holding the workflow's lock (refused while a run of the workflow is active)."""
    with user_errors(definition, c):
        _, store = settings_store(c, definition)
        store.find(definition.name, run_id)  # an unknown run is refused before any lock file
        if dry_run:  # writes nothing, takes no lock (like clean --dry-run)
            _repair_locked(store, definition, run_id, dry_run=True)
            return
        lock = store.lock(definition.name)
        lock.acquire(doing="repair")  # the workflow lock and the runs guard, to the end
        try:
            _repair_locked(store, definition, run_id, dry_run=dry_run)
        finally:
            lock.release()


def _repair_locked(
    store: Store, definition: WorkflowDefinition, run_id: str | None, *, dry_run: bool
) -> None:
    from ..store.repair import plan_repair, repair

    if not dry_run:
        store.sweep(definition.name)
    run_dir = store.find(definition.name, run_id)
    plan = plan_repair(run_dir, definition.name, list(definition.step_names))
    if plan.problem is None:
        print(f"run {run_dir.run_id}: checkpoint.json is valid, nothing to repair")
        return
    print(f"run {run_dir.run_id}: {plan.problem}")
    for note in plan.notes:
        print(f"  {note}")
    if dry_run:
        print("dry run: nothing was changed")
        return
    kept = repair(plan)
    where = f"; the damaged file is kept as {kept}" if kept else ""
    print(f"rebuilt {run_dir.checkpoint_path}{where}")
