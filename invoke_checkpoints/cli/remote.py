"""Commands of the remote store (issue #17): ``unlock``, ``export`` and ``import``.

``export``/``import`` work between any two stores (local or ``s3://``): the archive holds one
run's files under ``<run id>/``, exactly as they are in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CheckpointError
from .commands import settings_store, user_errors

if TYPE_CHECKING:
    from invoke import Context

    from ..run.definition import WorkflowDefinition

__all__ = ["export_command", "import_command", "unlock_command"]


def unlock_command(c: Context, definition: WorkflowDefinition, *, force: bool) -> None:
    """``invoke <workflow>.unlock [--force]``: free the lock of a holder known to be dead."""
    with user_errors(definition):
        _, store = settings_store(c, definition)
        if not store.backend.remote:
            lock = store.lock(definition.name)
            if not lock.try_acquire():
                who = lock.holder().get("run_id") or "a run starting up"
                raise CheckpointError(
                    f"workflow {definition.name!r} is locked by a live process ({who}); a local "
                    "lock is freed by the kernel when its holder dies: stop that process instead"
                )
            lock.release()
            print(
                f"workflow {definition.name!r} is not locked ({store.root}): a local lock is "
                "freed by the kernel when its holder dies"
            )
            return
        from ..store.lease import LeaseLock

        lock = store.lock(definition.name)
        assert isinstance(lock, LeaseLock)  # a remote store's lock is its lease
        print(lock.unlock(force=force))


def export_command(
    c: Context, definition: WorkflowDefinition, run_id: str | None, output: str
) -> None:
    """``invoke <workflow>.export --run=ID --output=run.tar.gz``."""
    from pathlib import Path

    from ..store.transfer import export_run

    with user_errors(definition):
        _, store = settings_store(c, definition)
        run_dir = store.find(definition.name, run_id)
        target = Path(output or f"{run_dir.run_id}.tar.gz")
        count = export_run(run_dir, target)
        print(f"exported {run_dir.run_id} ({count} files) to {target}")


def import_command(c: Context, definition: WorkflowDefinition, source: str) -> None:
    """``invoke <workflow>.import --input=run.tar.gz``: into this project's store, under the
    workflow's lock."""
    from pathlib import Path

    from ..store.transfer import import_run

    with user_errors(definition):
        if not source:
            raise CheckpointError(
                f"name the archive to import: `invoke {definition.name}.import --input=RUN.tar.gz`"
            )
        _, store = settings_store(c, definition)
        lock = store.lock(definition.name)
        lock.acquire()
        try:
            run_id, count = import_run(store, definition.name, Path(source))
        finally:
            lock.release()
        print(f"imported {run_id} ({count} files) into {store.root}")
