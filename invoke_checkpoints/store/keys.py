"""Finding a run by its run key (``--run-key`` / ``checkpoints.run_key``, e.g. a CI run id)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CheckpointError

if TYPE_CHECKING:
    from .rundir import RunDir
    from .runs import Store

__all__ = ["find_run_by_key"]


def find_run_by_key(store: Store, workflow: str, key: str) -> RunDir | None:
    """The newest run of ``workflow`` whose checkpoint.json records run key ``key``.

    One read of checkpoint.json per run, newest first, stopping at the first match; a run
    that cannot be read is passed over here (``status`` and ``repair`` report it).
    """
    for run_id in reversed(store.run_ids(workflow)):
        try:
            run_dir = store.run(workflow, run_id)
            doc = run_dir.checkpoint_doc(check_files=False)
        except CheckpointError:
            continue
        if doc.get("run_key") == key:
            return run_dir
    return None
