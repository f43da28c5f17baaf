"""The checkpoint store: finding, creating and locking the runs of a project's workflows.

One run's files are ``rundir.py``'s; every file operation goes through a ``backend.py``
:class:`~.backend.Backend` (atomic writes in ``atomic.py``, the workflow lock in ``lock.py``).

Layout (one store per project, ``.checkpoints/`` beside tasks.py by default)::

    .checkpoints/
        .gitignore  README.md
        <workflow>.lock                 flock held while a run of <workflow> is active
        <workflow>.lock.json            who holds it (run id, pid, host); trusted only while locked
        <workflow>.runs.lock            flock held while runs are chosen, created or deleted
        <workflow>.latest               the id of the run most recently started (see ``latest``)
        <workflow>_YYYYMMDD_HHMMSS[_N]/
            checkpoint.json  step_NN.complete  state/step_NN_state.json

Only the standard library is imported at module level; the pydantic models are imported when
first needed.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..errors import (
    CheckpointError,
    CorruptCheckpointError,
    InvalidRunIdError,
    LockHeldError,
    UnknownRunError,
)
from .atomic import LINK, is_temp_name, temp_pid
from .backend import LocalBackend
from .rundir import RunDir, marker_name, state_name
from .safefs import MAX_SMALL

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from .backend import RunLock
    from .lease import CleanGuard
    from .lock import RunsGuard
    from .s3 import S3Backend

__all__ = [
    "RunDir",
    "Store",
    "marker_name",
    "run_started",
    "state_name",
]

# ASCII digits only and \Z (not $, which also matches before a trailing newline).
_RUN_ID = re.compile(
    r"^(?P<name>.+)_(?P<date>\d{8})_(?P<time>\d{6})(?:_(?P<n>[1-9]\d{0,5}))?\Z", re.ASCII
)
_MAX_RUN_ID = 200
#: Size bound of an auxiliary document (smart execution's index and hash cache).
_MAX_AUX = 64 * 1024 * 1024
#: Prefix of a run directory being created (see ``Store.create_run``).
_UNBORN = ".new-"
#: Prefix of a run directory being deleted (see ``maintenance.clean_runs``).
DELETING = ".deleting-"
_STORE_README = """\
# invoke-checkpoints store

Checkpoints of `invoke` workflows run in this project: one directory per run, with
`checkpoint.json`, `step_NN.complete` markers and `state/step_NN_state.json`.
Created by invoke-checkpoints. It may hold sensitive data: keep it out of version control
(the `.gitignore` here does that). `invoke <workflow>.status` shows a run.
"""


def run_started(run_id: str) -> datetime:
    """When a run started, from its id alone (``<name>_YYYYMMDD_HHMMSS[_N]``, UTC)."""
    m = _RUN_ID.match(run_id)
    if m is None:
        raise InvalidRunIdError(f"invalid run id {run_id!r}", run_id=run_id)
    d, t = m["date"], m["time"]
    # As strptime("%Y%m%d%H%M%S") reads these fixed-width digits (ValueError for a date that
    # does not exist), without importing _strptime: ~2 ms of a run's start-up, for retention.
    return datetime(
        int(d[:4]),
        int(d[4:6]),
        int(d[6:]),
        int(t[:2]),
        int(t[2:4]),
        int(t[4:]),
        tzinfo=timezone.utc,
    )


class Store:
    """The runs of a project's workflows, in one backend (``.checkpoints/`` by default)."""

    def __init__(
        self,
        root: Path | str,
        *,
        durable: bool = True,
        shared: bool = False,
        lease_seconds: float = 30.0,
        readonly: bool = False,
    ) -> None:
        """``root``: a directory, or an ``s3://bucket/prefix`` URL (``s3.py``, the s3 extra);
        ``readonly``: for ``status`` and ``list``, which never write (see ``LocalBackend``)."""
        self.backend: LocalBackend | S3Backend
        if isinstance(root, str):
            from .s3 import S3Backend

            self.backend = S3Backend(root, durable=durable, lease_seconds=lease_seconds)
        else:
            self.backend = LocalBackend(root, durable=durable, shared=shared, readonly=readonly)
        #: Shown in messages: the directory, or the bucket URL.
        self.root: Path = self.backend.root

    @property
    def durable(self) -> bool:
        return self.backend.durable

    def ensure(self) -> None:
        """Create the store (0700) with its own .gitignore and README, like pytest's cache.

        Each file is checked on its own: a process killed between creating the directory and
        writing them must not leave a store without its ``.gitignore`` for good. A bucket
        needs neither.
        """
        if self.backend.remote:
            return
        self.backend.ensure_dir()
        ignore = b"# Created by invoke-checkpoints.\n*\n"
        for name, data in ((".gitignore", ignore), ("README.md", _STORE_README.encode())):
            if self.backend.kind(name) is None:
                self.backend.replace(name, data, durable=True)

    # -- auxiliary documents ---------------------------------------------------------------

    def read_json(self, name: str) -> dict[str, Any]:
        """An auxiliary JSON document of the store (smart execution's index and hash cache);
        ``{}`` when it is missing or damaged: losing one costs a re-hash or a re-run, no more."""
        try:
            data = json.loads(self.backend.read(name, limit=_MAX_AUX))
        except (CheckpointError, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_json(self, name: str, data: bytes) -> None:
        """Replace an auxiliary document atomically; not fsynced (see ``read_json``)."""
        self.backend.replace(name, data, durable=False)

    # -- run ids -------------------------------------------------------------------------

    def check_run_id(self, workflow: str, run_id: str) -> str:
        """Refuse anything but ``<workflow>_YYYYMMDD_HHMMSS[_N]`` before it touches the disk."""
        m = _RUN_ID.match(run_id) if len(run_id) <= _MAX_RUN_ID else None
        if m is None or m.group("name") != workflow or "\x00" in run_id:
            shown = run_id if len(run_id) <= 60 else run_id[:57] + "..."
            raise InvalidRunIdError(
                f"invalid run id {shown!r}: expected {workflow}_YYYYMMDD_HHMMSS[_N] "
                f"(see `invoke {workflow}.status`)",
                run_id=run_id,
            )
        return run_id

    def _keyed(self, workflow: str) -> Iterator[tuple[str, str, int, str]]:
        """(date, time, n, run id) of every run of ``workflow``, from directory names alone."""
        prefix = f"{workflow}_"
        for name, kind in self.backend.listing():
            # The cheap prefix test first: stores can hold thousands of runs.
            if not name.startswith(prefix):
                continue
            m = _RUN_ID.match(name)
            if m and m.group("name") == workflow and kind == "dir":
                yield (m["date"], m["time"], int(m["n"] or 1), name)

    def run_ids(self, workflow: str) -> list[str]:
        """Ids of every run of ``workflow``, oldest first."""
        return [k[3] for k in sorted(self._keyed(workflow))]

    def newest(self, workflow: str, count: int) -> list[str]:
        """Ids of the newest ``count`` runs of ``workflow``, newest first.

        One directory listing and string comparisons: the stamps are fixed-width, so names
        order like their (date, time, _N) without a regex per entry, and only the winners are
        checked in full. A store can hold thousands of runs; no file is opened.
        """
        p = len(workflow) + 1
        looks = [n for n in self._named_like(workflow) if n[p : p + 8].isdigit()]

        def order(name: str) -> tuple[str, int, str]:
            return name[p : p + 15], len(name), name  # _10 sorts after _9: longer

        found = [n for n in heapq.nlargest(count, looks, key=order) if self._is_run(workflow, n)]
        if len(found) < min(count, len(looks)):
            # Stray names that only looked like runs took places: check every candidate.
            ordered = sorted(looks, key=order, reverse=True)
            found = [n for n in ordered if self._is_run(workflow, n)][:count]
        return found

    def _named_like(self, workflow: str) -> list[str]:
        """Entries of the store named ``<workflow>_...``, from one listing."""
        names = self.backend.names()
        prefix = f"{workflow}_"
        return [n for n in names if n.startswith(prefix)]

    def _is_run(self, workflow: str, name: str) -> bool:
        m = _RUN_ID.match(name)
        if m is None or m.group("name") != workflow:
            return False
        return self.backend.kind(name) == "dir"

    def latest(self, workflow: str) -> str | None:
        """The run of ``workflow`` most recently started on this store, whatever the clock said.

        ``<workflow>.latest`` names it (written as each run is created, under the lock); when
        that pointer is missing, damaged or names a run that is gone, the newest by name.
        """
        pointed = self._pointer(workflow)
        if pointed is not None:
            return pointed
        return self.newest_by_name(workflow)

    def _pointer(self, workflow: str) -> str | None:
        try:
            text = self.backend.read(f"{workflow}.latest", limit=MAX_SMALL)
        except CheckpointError:
            return None
        run_id = text.decode("ascii", "replace").strip()
        m = _RUN_ID.match(run_id) if len(run_id) <= _MAX_RUN_ID else None
        if m is None or m.group("name") != workflow or self.backend.kind(run_id) != "dir":
            return None
        return run_id

    def newest_by_name(self, workflow: str) -> str | None:
        """The newest run of ``workflow`` by its name: one listing and C-level comparisons.

        Names of one workflow compare like their fixed-width stamps, which come first; only
        ``_N`` suffixes of one second need care (``_10`` is newer than ``_9``). When the winner
        is not a run (a stray name), ``newest`` looks at every candidate.
        """
        looks = self._named_like(workflow)
        if not looks:
            return None
        head = max(looks)[: len(workflow) + 16]  # <workflow>_YYYYMMDD_HHMMSS
        best = max((n for n in looks if n.startswith(head)), key=lambda n: (len(n), n))
        if self._is_run(workflow, best):
            return best
        found = self.newest(workflow, 1)
        return found[0] if found else None

    def find(self, workflow: str, run_id: str | None) -> RunDir:
        """The run named ``run_id``, or the latest run; ``UnknownRunError`` when there is none."""
        if run_id is None:
            run_id = self.latest(workflow)
            if run_id is None:
                raise UnknownRunError(f"no run of workflow {workflow!r} in {self.root} yet")
        return self.run(workflow, run_id)

    def run(self, workflow: str, run_id: str) -> RunDir:
        """An existing run, by id (validated first)."""
        self.check_run_id(workflow, run_id)
        path = self.root / run_id
        # A link inside the store is never followed: writes and deletes stay in the store.
        if self.backend.kind(run_id) != "dir":
            raise UnknownRunError(
                f"no run {run_id!r} in {self.root} (list them with `invoke {workflow}.list`)",
                run_id=run_id,
                path=path,
            )
        if not self.backend.remote and self.backend.kind(f"{run_id}/state") == "link":
            raise CorruptCheckpointError(
                f"{path / 'state'}: {LINK}", run_id=run_id, path=path / "state"
            )
        return RunDir(self.backend, run_id)

    def create_run(self, workflow: str, now: datetime, first: Callable[[str], bytes]) -> RunDir:
        """A new run directory named after ``now`` (UTC), suffixed ``_N`` on a clash.

        The directory appears whole or not at all: it is built under a hidden name with
        ``state/`` and its first checkpoint.json (``first(run_id)``), then renamed into place,
        so a kill never leaves a run without checkpoint.json. Call with the workflow's lock held.
        """
        self.ensure()
        self.sweep(workflow)
        base = f"{workflow}_{now.astimezone(timezone.utc):%Y%m%d_%H%M%S}"
        for n in range(1, 10_000):
            run_id = base if n == 1 else f"{base}_{n}"
            if self.backend.kind(run_id) is not None:
                continue

            def build(staging: str, run_id: str = run_id) -> None:
                self.backend.replace(f"{staging}/checkpoint.json", first(run_id), durable=True)

            # The pointer first: a kill before the rename leaves it naming no run (ignored).
            # make_run's directory fsync persists its rename with the run's.
            self.backend.replace(f"{workflow}.latest", f"{run_id}\n".encode(), durable=False)
            self.backend.make_run(run_id, build, f"{_UNBORN}{run_id}.{os.getpid()}")
            return RunDir(self.backend, run_id)
        raise LockHeldError(f"too many runs of {workflow!r} started at {base}", path=self.root)

    # -- locking -------------------------------------------------------------------------

    def lock(self, workflow: str) -> RunLock:
        self.ensure()
        return self.backend.lock(f"{workflow}.lock", workflow)

    def runs_guard(self, workflow: str) -> RunsGuard | CleanGuard:
        """``<workflow>.runs.lock`` (see ``lock.py``): ``clean`` holds it while it deletes; in
        a bucket, the workflow's lease (``lease.py``: refused while a run holds it)."""
        from .lock import RunsGuard

        if not isinstance(self.backend, LocalBackend):
            from .lease import CleanGuard

            return CleanGuard(self.backend.lock(f"{workflow}.lock", workflow))
        return RunsGuard(self.backend, workflow)

    def active_run(self, workflow: str) -> str | None:
        """The id of the run of ``workflow`` whose process holds the lock right now, if any.

        Only a probe: nothing is written, so a reader who may not write the store can ask."""
        probe = self.backend.lock(f"{workflow}.lock", workflow)
        # A lease's holder() reads the lock once, and is {} when it is released or missing.
        if not self.backend.remote and not probe.is_held():
            return None
        holder = probe.holder()
        return str(holder.get("run_id")) if holder.get("run_id") else None

    def sweep(self, workflow: str) -> None:
        """Remove what killed commands left (call with the runs guard held): run directories
        of ``workflow`` whose creator died before renaming them into place, the tombstones of
        a killed ``clean``, and temp files at the store's root whose writer is dead. Temp
        files inside a run are swept when the run is resumed or repaired."""
        # Names only (one listdir, no stat per entry): a store can hold thousands of runs.
        for name in self.backend.names():
            if name[:1] != ".":
                continue
            if name.startswith((DELETING, _UNBORN)):
                if self._left_by(workflow, name) and self.backend.kind(name) == "dir":
                    self.backend.remove_staging(name)
            elif (
                is_temp_name(name)
                and not _alive(temp_pid(name))
                and self.backend.kind(name) == "file"
            ):
                with contextlib.suppress(CheckpointError):
                    self.backend.remove(name)

    @staticmethod
    def _left_by(workflow: str, name: str) -> bool:
        """``.new-<run>.<pid>`` or ``.deleting-<run>-<pid>`` of a run of ``workflow``."""
        if name.startswith(_UNBORN):
            stem = name[len(_UNBORN) :].rpartition(".")[0]
        else:
            stem = name[len(DELETING) :].rpartition("-")[0]
        m = _RUN_ID.match(stem)
        return m is not None and m.group("name") == workflow


def _alive(pid: int | None) -> bool:
    """Whether process ``pid`` exists (on this host: temp files are local)."""
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, another user's
    return True
