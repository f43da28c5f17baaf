"""The checkpoint store: run directories and their files, finding and creating runs.

Atomic writes live in ``atomic.py`` and the workflow lock in ``lock.py``.

Layout (one store per project, ``.checkpoints/`` beside tasks.py by default)::

    .checkpoints/
        .gitignore  README.md
        <workflow>.lock                 flock held while a run of <workflow> is active
        <workflow>.lock.json            who holds it (run id, pid, host); trusted only while locked
        <workflow>_YYYYMMDD_HHMMSS[_N]/
            checkpoint.json  step_NN.complete  state/step_NN_state.json

Only the standard library is imported at module level; filelock and the pydantic models are
imported when first needed.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import re
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import (
    CorruptCheckpointError,
    InvalidRunIdError,
    LockHeldError,
    UnknownRunError,
)
from .atomic import LINK, PRIVATE_MODES, SHARED_MODES, atomic_write, fsync_dir, read_file
from .lock import WorkflowLock

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from .models import Checkpoint, Marker, StepState

_T = TypeVar("_T")

__all__ = [
    "RunDir",
    "Store",
    "WorkflowLock",
    "atomic_write",
    "marker_name",
    "run_started",
    "state_name",
]

# ASCII digits only and \Z (not $, which also matches before a trailing newline).
_RUN_ID = re.compile(
    r"^(?P<name>.+)_(?P<date>\d{8})_(?P<time>\d{6})(?:_(?P<n>[1-9]\d{0,5}))?\Z", re.ASCII
)
_MARKER = re.compile(r"^step_(\d+)\.complete$")
_STATE = re.compile(r"^step_(\d+)_state\.json$")
_MAX_RUN_ID = 200
#: Prefix of a run directory being created (see ``Store.create_run``).
_UNBORN = ".new-"
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
    return datetime.strptime(m["date"] + m["time"], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def marker_name(step: int) -> str:
    return f"step_{step:02d}.complete"


def state_name(step: int) -> str:
    return f"step_{step:02d}_state.json"


@dataclass(frozen=True)
class RunDir:
    """One run's directory and the files in it."""

    path: Path
    run_id: str
    durable: bool = True
    #: Mode of the files this run writes (0600, or 0644 with permissions: shared).
    file_mode: int = PRIVATE_MODES[1]

    def _write(self, path: Path, data: bytes, *, sync: bool = True, sync_dir: bool = True) -> None:
        durable = self.durable and sync
        atomic_write(path, data, durable=durable, sync_dir=sync_dir, mode=self.file_mode)

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.json"

    @property
    def state_dir(self) -> Path:
        return self.path / "state"

    def read_checkpoint(self, *, check_files: bool = True) -> Checkpoint:
        """checkpoint.json as the model, validated; with ``check_files`` every marker and state
        file of the run must parse and agree with it too, so no command acts on a damaged run."""
        from .models import Checkpoint

        cp = self._load(self.checkpoint_path, Checkpoint.from_json)
        self._check_identity(cp.workflow_id, cp.steps, check_files)
        return cp

    def checkpoint_doc(self, *, check_files: bool = True) -> dict[str, Any]:
        """checkpoint.json as a dict, validated exactly like ``read_checkpoint`` but without
        building the models for a healthy file (``reading.py``): for read-only commands."""
        from .reading import load_checkpoint

        doc = self._load(self.checkpoint_path, load_checkpoint)
        self._check_identity(doc["workflow_id"], doc["steps"], check_files)
        return doc

    def _load(self, path: Path, loader: Callable[..., _T]) -> _T:
        try:
            return loader(read_file(path), source=str(path))
        except CorruptCheckpointError as exc:
            exc.run_id, exc.path = self.run_id, path
            raise

    def _check_identity(self, workflow_id: str, steps: list[str], check_files: bool) -> None:
        if workflow_id != self.run_id:
            raise CorruptCheckpointError(
                f"{self.checkpoint_path}: workflow_id {workflow_id!r} does not match its "
                f"directory {self.run_id!r}",
                run_id=self.run_id,
                path=self.checkpoint_path,
            )
        if check_files:
            self.check_files(steps)

    def check_files(self, steps: list[str]) -> dict[int, dict[str, Any]]:
        """Every marker and state file parses and names its own step of ``steps``; the state
        files read on the way, by step (so ``status`` does not read them twice)."""
        for number in sorted(self.marker_steps()):
            marker = self.marker_doc(number)
            expected = steps[number] if number < len(steps) else None
            if marker is not None and (number, expected) != (marker["STEP"], marker["NAME"]):
                raise self._corrupt(
                    self.path / marker_name(number),
                    f"records step {marker['STEP']} ({marker['NAME']!r}) but step {number} of "
                    "the run " + (f"is {expected!r}" if expected is not None else "does not exist"),
                )
        states: dict[int, dict[str, Any]] = {}
        for number in sorted(self.state_steps()):
            state = self.state_doc(number)
            if state is None:
                continue
            expected = steps[number] if number < len(steps) else None
            if state["name"] != expected:
                raise self._corrupt(
                    self.state_dir / state_name(number),
                    f"records step {number} as {state['name']!r} but step {number} of the run "
                    + (f"is {expected!r}" if expected is not None else "does not exist"),
                )
            states[number] = state
        return states

    def _corrupt(self, path: Path, why: str) -> CorruptCheckpointError:
        return CorruptCheckpointError(f"{path}: {why}", run_id=self.run_id, path=path)

    def write_checkpoint(self, cp: Checkpoint, *, sync: bool = True, sync_dir: bool = True) -> None:
        """``sync=False`` when every change since the last durable write can be rebuilt from
        the markers; ``sync_dir=False`` when the marker's directory fsync follows at once."""
        self._write(self.checkpoint_path, cp.to_json(), sync=sync, sync_dir=sync_dir)

    def _state_file(self, step: int) -> Path | None:
        """The state file of ``step``; ``None`` when there is none, or it is empty.

        This package never writes an empty file. An empty state file is what a power cut can
        leave of one renamed into place without fsync (on file systems that do not flush data
        before a rename): such a state held nothing that is not rebuilt from its marker, or
        decided again for a step without one.
        """
        path = self.state_dir / state_name(step)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return None
        return None if stat.S_ISREG(info.st_mode) and info.st_size == 0 else path

    def read_state(self, step: int) -> StepState | None:
        from .models import StepState

        return self._load_state(step, StepState.from_json, lambda state: state.step)

    def state_doc(self, step: int) -> dict[str, Any] | None:
        """A state file as a dict (see ``checkpoint_doc``); ``None`` when there is none."""
        from .reading import load_state

        return self._load_state(step, load_state, lambda state: state["step"])

    def _load_state(
        self, step: int, loader: Callable[..., _T], number_of: Callable[[_T], int]
    ) -> _T | None:
        path = self._state_file(step)
        if path is None:
            return None
        state = self._load(path, loader)
        if number_of(state) != step:
            raise self._corrupt(path, f"its 'step' field says {number_of(state)}, not {step}")
        return state

    def state_steps(self) -> set[int]:
        """Step numbers that have a state file."""
        found: set[int] = set()
        with contextlib.suppress(FileNotFoundError), os.scandir(self.state_dir) as entries:
            for entry in entries:
                m = _STATE.match(entry.name)
                if m and (entry.is_file(follow_symlinks=False) or entry.is_symlink()):
                    found.add(int(m.group(1)))
        return found

    def write_state(self, state: StepState, *, sync: bool = True) -> None:
        """``sync=False`` for a state a power cut may lose: ``running`` (the step has no marker
        and runs again), ``skipped`` (decided again on resume), or ``completed`` with nothing
        its marker does not record (rebuilt from the marker)."""
        self._write(self.state_dir / state_name(state.step), state.to_json(), sync=sync)

    def write_marker(self, marker: Marker) -> None:
        # The marker is the commit point of a step: always durable when fsync is on.
        self._write(self.path / marker_name(marker.STEP), marker.to_text())

    def read_marker(self, step: int) -> Marker | None:
        from .models import Marker

        path = self.path / marker_name(step)
        return self._load(path, Marker.from_text) if os.path.lexists(path) else None

    def marker_doc(self, step: int) -> dict[str, Any] | None:
        """A marker as a dict (see ``checkpoint_doc``); ``None`` when there is none."""
        from .reading import load_marker

        path = self.path / marker_name(step)
        return self._load(path, load_marker) if os.path.lexists(path) else None

    def remove_marker(self, step: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / marker_name(step)).unlink()

    def marker_steps(self) -> set[int]:
        """Step numbers that have a completion marker: the source of truth for "complete"."""
        found: set[int] = set()
        with os.scandir(self.path) as entries:
            for entry in entries:
                m = _MARKER.match(entry.name)
                # A link named like a marker is found too, so that reading it refuses the run.
                if m and (entry.is_file(follow_symlinks=False) or entry.is_symlink()):
                    found.add(int(m.group(1)))
        return found

    def sweep_temp_files(self) -> None:
        """Remove temp files left by a killed writer; they never hold committed data."""
        for folder in (self.path, self.state_dir):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(folder):
                    if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)

    def size_bytes(self) -> int:
        total = 0
        for folder in (self.path, self.state_dir):
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(folder):
                    if entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        return total


class Store:
    """The directory holding all runs of a project's workflows."""

    def __init__(self, root: Path, *, durable: bool = True, shared: bool = False) -> None:
        self.root = root
        self.durable = durable
        self.dir_mode, self.file_mode = SHARED_MODES if shared else PRIVATE_MODES

    def ensure(self) -> None:
        """Create the store (0700) with its own .gitignore and README, like pytest's cache.

        Each file is checked on its own: a process killed between creating the directory and
        writing them must not leave a store without its ``.gitignore`` for good.
        """
        if not self.root.is_dir():
            self.root.mkdir(mode=self.dir_mode, parents=True, exist_ok=True)
        ignore = b"# Created by invoke-checkpoints.\n*\n"
        for name, data in ((".gitignore", ignore), ("README.md", _STORE_README.encode())):
            if not os.path.lexists(self.root / name):
                atomic_write(self.root / name, data, mode=self.file_mode)

    # -- auxiliary documents ---------------------------------------------------------------

    def read_json(self, name: str) -> dict[str, Any]:
        """An auxiliary JSON document of the store (smart execution's index and hash cache);
        ``{}`` when it is missing or damaged: losing one costs a re-hash or a re-run, no more."""
        try:
            data = json.loads(read_file(self.root / name))
        except (CorruptCheckpointError, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_json(self, name: str, data: bytes) -> None:
        """Replace an auxiliary document atomically; not fsynced (see ``read_json``)."""
        atomic_write(self.root / name, data, durable=False, mode=self.file_mode)

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
        if not self.root.is_dir():
            return
        prefix = f"{workflow}_"
        with os.scandir(self.root) as entries:
            for entry in entries:
                # The cheap prefix test first: stores can hold thousands of runs.
                if not entry.name.startswith(prefix):
                    continue
                m = _RUN_ID.match(entry.name)
                if m and m.group("name") == workflow and entry.is_dir(follow_symlinks=False):
                    yield (m["date"], m["time"], int(m["n"] or 1), entry.name)

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
        try:
            names = os.listdir(self.root)
        except (FileNotFoundError, NotADirectoryError):
            return []
        prefix = f"{workflow}_"
        return [n for n in names if n.startswith(prefix)]

    def _is_run(self, workflow: str, name: str) -> bool:
        m = _RUN_ID.match(name)
        if m is None or m.group("name") != workflow:
            return False
        try:
            return stat.S_ISDIR(os.lstat(self.root / name).st_mode)
        except OSError:
            return False

    def latest(self, workflow: str) -> str | None:
        """The newest run of ``workflow``: one listing and C-level string comparisons.

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
        if path.is_symlink() or not path.is_dir():
            raise UnknownRunError(
                f"no run {run_id!r} in {self.root} (list them with `invoke {workflow}.status`)",
                run_id=run_id,
                path=path,
            )
        if (path / "state").is_symlink():
            raise CorruptCheckpointError(
                f"{path / 'state'}: {LINK}", run_id=run_id, path=path / "state"
            )
        return RunDir(path, run_id, self.durable, self.file_mode)

    def create_run(self, workflow: str, now: datetime, first: Callable[[str], bytes]) -> RunDir:
        """A new run directory named after ``now`` (UTC), suffixed ``_N`` on a clash.

        The directory appears whole or not at all: it is built under a hidden name with
        ``state/`` and its first checkpoint.json (``first(run_id)``), then renamed into place,
        so a kill never leaves a run without checkpoint.json. Call with the workflow's lock held.
        """
        self.ensure()
        self._sweep_unborn(workflow)
        base = f"{workflow}_{now.astimezone(timezone.utc):%Y%m%d_%H%M%S}"
        for n in range(1, 10_000):
            run_id = base if n == 1 else f"{base}_{n}"
            path = self.root / run_id
            if os.path.lexists(path):
                continue
            tmp = self.root / f"{_UNBORN}{run_id}.{os.getpid()}"
            tmp.mkdir(mode=self.dir_mode)
            (tmp / "state").mkdir(mode=self.dir_mode)
            atomic_write(
                tmp / "checkpoint.json", first(run_id), durable=self.durable, mode=self.file_mode
            )
            # No other process creates runs of this workflow: we hold its lock.
            os.rename(tmp, path)
            if self.durable:
                fsync_dir(self.root)
            return RunDir(path, run_id, self.durable, self.file_mode)
        raise LockHeldError(f"too many runs of {workflow!r} started at {base}", path=self.root)

    def _sweep_unborn(self, workflow: str) -> None:
        """Remove run directories whose creator was killed before renaming them into place."""
        with os.scandir(self.root) as entries:
            for entry in entries:
                if not entry.name.startswith(_UNBORN):
                    continue
                m = _RUN_ID.match(entry.name[len(_UNBORN) :].rpartition(".")[0])
                if m and m.group("name") == workflow and not entry.is_symlink():
                    shutil.rmtree(entry.path, ignore_errors=True)

    # -- locking -------------------------------------------------------------------------

    def lock(self, workflow: str) -> WorkflowLock:
        self.ensure()
        return WorkflowLock(self.root / f"{workflow}.lock", workflow)

    def active_run(self, workflow: str) -> str | None:
        """The id of the run of ``workflow`` whose process holds the lock right now, if any."""
        path = self.root / f"{workflow}.lock"
        if not path.exists():
            return None
        probe = WorkflowLock(path, workflow)
        if probe.try_acquire():
            probe.release()
            return None
        holder = probe.holder()
        return str(holder.get("run_id")) if holder.get("run_id") else None
