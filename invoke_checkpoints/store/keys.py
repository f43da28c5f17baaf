"""Finding a run by its run key (``--run-key`` / ``checkpoints.run_key``, e.g. a CI run id)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError

if TYPE_CHECKING:
    from .rundir import RunDir
    from .runs import Store

__all__ = ["find_run_by_key"]

#: checkpoint.json files read at a time from a remote store (each read is a round trip).
_REMOTE_BATCH = 16


def find_run_by_key(store: Store, workflow: str, key: str) -> RunDir | None:
    """The newest run of ``workflow`` whose checkpoint.json records run key ``key``.

    One read of checkpoint.json per run, newest first, stopping at the first match; a run
    that cannot be read is passed over here (``status`` and ``repair`` report it). From a
    remote store the reads go ``_REMOTE_BATCH`` at a time, in parallel: a bucket with no run
    of that key yet (a CI run's first attempt) costs its runs / 16 round trips, not its runs.
    """
    ids = list(reversed(store.run_ids(workflow)))
    batch = _REMOTE_BATCH if store.backend.remote else 1
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        if batch == 1:
            found = [_read(store, workflow, chunk[0])]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=len(chunk)) as pool:
                found = list(pool.map(lambda run_id: _read(store, workflow, run_id), chunk))
        for read in found:
            if read is not None and read[1].get("run_key") == key:
                return read[0]
    return None


def _read(store: Store, workflow: str, run_id: str) -> tuple[RunDir, dict[str, Any]] | None:
    try:
        run_dir = store.run(workflow, run_id)
        return run_dir, run_dir.checkpoint_doc(check_files=False)
    except CheckpointError:
        return None
