"""One run and its files: ``checkpoint.json``, ``step_NN.complete``, ``state/step_NN_state.json``.

Every read and write goes through the store's :class:`~.backend.Backend`. Files are read by
``reading.py`` (checked without pydantic; a file the check refuses is judged by the models):
the ``*_doc`` readers return those validated dicts, the others the records built from them
(``records.py``), which is also what the writers take.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import CheckpointError, CorruptCheckpointError
from .safefs import MAX_FILE, MAX_SMALL

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager
    from pathlib import Path

    from .backend import Backend, Kind
    from .records import Checkpoint, Marker, StepState

__all__ = ["RunDir", "marker_name", "state_name"]

_T = TypeVar("_T")
_MARKER = re.compile(r"^step_(\d+)\.complete$")
_STATE = re.compile(r"^step_(\d+)_state\.json$")
CHECKPOINT = "checkpoint.json"


def marker_name(step: int) -> str:
    return f"step_{step:02d}.complete"


def state_name(step: int) -> str:
    return f"step_{step:02d}_state.json"


class RunDir:
    """One run of a workflow in a store."""

    __slots__ = ("_base", "backend", "run_id")

    def __init__(self, backend: Backend, run_id: str) -> None:
        self.backend = backend
        self.run_id = run_id
        self._base: str | None = None

    # -- keys and paths ------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The store key of a file of this run (``checkpoint.json``, ``state/...``)."""
        return f"{self.run_id}/{name}"

    def where(self, name: str) -> Path:
        return self.backend.where(self.key(name))

    @property
    def path(self) -> Path:
        return self.backend.where(self.run_id)

    @property
    def checkpoint_path(self) -> Path:
        return self.where(CHECKPOINT)

    @property
    def durable(self) -> bool:
        return self.backend.durable

    # -- checkpoint.json -----------------------------------------------------------------

    def read_checkpoint(self, *, check_files: bool = True) -> Checkpoint:
        """checkpoint.json as a record, validated; with ``check_files`` every marker and state
        file of the run must parse and agree with it too, so no command acts on a damaged run."""
        from .records import Checkpoint

        return Checkpoint.from_doc(self.checkpoint_doc(check_files=check_files))

    def read_checked(self) -> tuple[Checkpoint, dict[int, dict[str, Any]]]:
        """``read_checkpoint()`` and the state files it validated on the way, by step: a
        resume keeps them instead of reading each again before its step runs."""
        from .records import Checkpoint

        doc = self.checkpoint_doc(check_files=False)
        return Checkpoint.from_doc(doc), self.check_files(doc["steps"])

    def checkpoint_doc(self, *, check_files: bool = True) -> dict[str, Any]:
        """checkpoint.json as a dict, validated exactly like ``read_checkpoint``."""
        from .reading import load_checkpoint

        doc = self._load(CHECKPOINT, load_checkpoint)
        self._check_identity(doc["workflow_id"], doc["steps"], check_files)
        return doc

    def write_checkpoint(self, cp: Checkpoint, *, sync: bool = True, sync_dir: bool = True) -> None:
        """``sync=False`` when every change since the last durable write can be rebuilt from
        the markers; ``sync_dir=False`` when the marker's directory fsync follows at once."""
        self.backend.replace(self.key(CHECKPOINT), cp.to_json(), durable=sync, sync_dir=sync_dir)

    def _load(
        self, name: str, loader: Callable[..., _T], limit: int = MAX_FILE, data: bytes | None = None
    ) -> _T:
        """``name`` read (or its ``data``, already read) and checked by ``loader``."""
        try:
            if data is None:
                data = self.backend.read(self.key(name), limit=limit)
            if self._base is None:  # str(self.where(name)), without a Path per file read
                self._base = str(self.path)
            return loader(data, source=f"{self._base}/{name}")
        except CorruptCheckpointError as exc:
            exc.run_id, exc.path = self.run_id, self.where(name)
            raise

    def _check_identity(self, workflow_id: str, steps: list[str], check_files: bool) -> None:
        if workflow_id != self.run_id:
            why = f"workflow_id {workflow_id!r} does not match its directory {self.run_id!r}"
            raise self._corrupt(CHECKPOINT, why)
        if check_files:
            self.check_files(steps)

    def held(self) -> AbstractContextManager[None]:
        """This run's directories kept open for the block (``Backend.held``): a run's steps,
        a validation of all its files."""
        return self.backend.held(self.run_id)

    def check_files(self, steps: list[str]) -> dict[int, dict[str, Any]]:
        """Every marker and state file parses and names its own step of ``steps``; the state
        files read on the way, by step (so ``status`` does not read them twice)."""
        with self.held():
            return self._check_files(steps)

    def _check_files(self, steps: list[str]) -> dict[int, dict[str, Any]]:
        from .reading import load_marker

        # The files the listing saw are read together, without a stat first; anything else
        # (not a file, or gone since) goes the careful way, which refuses what it must.
        markers = sorted(self._listed(self.run_id, _MARKER).items())
        names = [marker_name(n) for n, kind in markers if kind == "file"]
        read = self._read_listed("", names, MAX_SMALL)
        for number, kind in markers:
            name = marker_name(number)
            data = self._take(read, name, kind == "file", MAX_SMALL)
            marker: dict[str, Any] | None
            if data is not None:
                marker = self._load(name, load_marker, data=data)
            else:
                marker = self.marker_doc(number)
            expected = steps[number] if number < len(steps) else None
            if marker is not None and (number, expected) != (marker["STEP"], marker["NAME"]):
                raise self._corrupt(
                    name,
                    f"records step {marker['STEP']} ({marker['NAME']!r}) but step {number} of "
                    "the run " + (f"is {expected!r}" if expected is not None else "does not exist"),
                )
        states: dict[int, dict[str, Any]] = {}
        listed = sorted(self._listed(self.key("state"), _STATE).items())
        names = [state_name(n) for n, kind in listed if kind == "file"]
        read = self._read_listed("state", names, MAX_FILE)
        for number, kind in listed:
            data = self._take(read, f"state/{state_name(number)}", kind == "file", MAX_FILE)
            state = self._state_of(number, data) if data is not None else self.state_doc(number)
            if state is None:
                continue
            expected = steps[number] if number < len(steps) else None
            if state["name"] != expected:
                raise self._corrupt(
                    f"state/{state_name(number)}",
                    f"records step {number} as {state['name']!r} but step {number} of the run "
                    + (f"is {expected!r}" if expected is not None else "does not exist"),
                )
            states[number] = state
        return states

    def _read_listed(
        self, folder: str, names: list[str], limit: int
    ) -> dict[str, bytes | None] | None:
        """The bytes of the files ``names`` of the run's ``folder`` a listing just saw, in one
        call (the directory is checked once); ``None`` for one gone since (a reader without
        the lock races the writer), for the careful way to decide. ``None`` instead of them
        all when one cannot be read: each is then read in turn, so that the first file at
        fault in step order is the one named, as when every file was read and checked in
        turn (not a later one that happened to be read first)."""
        if not names:
            return {}
        key = self.key(folder) if folder else self.run_id
        try:
            return self.backend.read_many(key, names, limit=limit)
        except CheckpointError:
            return None

    def _take(
        self, read: dict[str, bytes | None] | None, name: str, listed: bool, limit: int
    ) -> bytes | None:
        """The bytes ``_read_listed`` read of the run's file ``name``, dropped from ``read``
        (a state's bytes are not kept beside its parsed document while the others are
        checked); after a failed ``_read_listed``, a file the listing saw read alone."""
        if read is not None:
            return read.pop(name.rpartition("/")[2], None)
        return self._listed_file(name, limit) if listed else None

    def _listed_file(self, name: str, limit: int) -> bytes | None:
        """The bytes of a file the listing just saw; ``None`` if it is gone since (a reader
        without the lock races the writer), for the careful way to decide."""
        try:
            return self.backend.read(self.key(name), limit=limit)
        except CorruptCheckpointError as exc:
            if self.backend.kind(self.key(name)) is None:
                return None
            exc.run_id = self.run_id  # the repair hint names this run, not the latest
            raise

    def _corrupt(self, name: str, why: str) -> CorruptCheckpointError:
        path = self.where(name)
        return CorruptCheckpointError(f"{path}: {why}", run_id=self.run_id, path=path)

    # -- state files ---------------------------------------------------------------------

    def _state_key(self, step: int) -> str | None:
        """The state file of ``step``; ``None`` when there is none, or it is empty.

        This package never writes an empty file. An empty state file is what a power cut can
        leave of one renamed into place without fsync (on file systems that do not flush data
        before a rename): such a state held nothing that is not rebuilt from its marker, or
        decided again for a step without one.
        """
        name = f"state/{state_name(step)}"
        kind = self.backend.kind(self.key(name))
        if kind is None:
            return None
        if kind == "file" and self.backend.size(self.key(name)) == 0:
            return None
        return name

    def read_state(self, step: int) -> StepState | None:
        from .records import StepState

        doc = self.state_doc(step)
        return StepState.from_doc(doc) if doc is not None else None

    def state_doc(self, step: int) -> dict[str, Any] | None:
        """A state file as a dict (see ``checkpoint_doc``); ``None`` when there is none."""
        if self._state_key(step) is None:
            return None
        return self._state_of(step, None)

    def _state_of(self, step: int, data: bytes | None) -> dict[str, Any] | None:
        """The state file of ``step`` checked (``data``: its bytes, already read; empty is no
        state, see ``_state_key``)."""
        from .reading import load_state

        if data is not None and not data:
            return None
        name = f"state/{state_name(step)}"
        state: dict[str, Any] = self._load(name, load_state, data=data)
        if state["step"] != step:
            raise self._corrupt(name, f"its 'step' field says {state['step']}, not {step}")
        return state

    def state_steps(self) -> set[int]:
        """Step numbers that have a state file (a link named like one is found too, so that
        reading it refuses the run)."""
        return self._numbered(self.key("state"), _STATE)

    def write_state(self, state: StepState, *, sync: bool = True) -> None:
        """``sync=False`` for a state a power cut may lose: ``running`` (the step has no marker
        and runs again), ``skipped`` (decided again on resume), or ``completed`` with nothing
        its marker does not record (rebuilt from the marker)."""
        key = self.key(f"state/{state_name(state.step)}")
        self.backend.replace(key, state.to_json(), durable=sync)

    def remove_state(self, step: int) -> None:
        key = self.key(f"state/{state_name(step)}")
        if self.backend.kind(key) is not None:
            self.backend.remove(key)

    # -- markers -------------------------------------------------------------------------

    def write_marker(self, marker: Marker) -> None:
        # The marker is the commit point of a step: always durable when fsync is on.
        self.backend.replace(self.key(marker_name(marker.STEP)), marker.to_text(), durable=True)

    def read_marker(self, step: int) -> Marker | None:
        from .records import Marker

        doc = self.marker_doc(step)
        return Marker.from_doc(doc) if doc is not None else None

    def marker_doc(self, step: int) -> dict[str, Any] | None:
        """A marker as a dict (see ``checkpoint_doc``); ``None`` when there is none."""
        from .reading import load_marker

        name = marker_name(step)
        if self.backend.kind(self.key(name)) is None:
            return None
        return self._load(name, load_marker, MAX_SMALL)

    def remove_marker(self, step: int) -> None:
        self.backend.remove(self.key(marker_name(step)))

    def marker_steps(self) -> set[int]:
        """Step numbers that have a completion marker: the source of truth for "complete"."""
        return self._numbered(self.run_id, _MARKER)

    def _numbered(self, key: str, pattern: re.Pattern[str]) -> set[int]:
        return set(self._listed(key, pattern))

    def _listed(self, key: str, pattern: re.Pattern[str]) -> dict[int, Kind]:
        found: dict[int, Kind] = {}
        for name, kind in self.backend.listing(key):
            m = pattern.match(name)
            # Anything so named counts (a link, a directory, a FIFO too), so that reading it
            # refuses the run instead of a step running again and failing to write its marker.
            if m:
                found[int(m.group(1))] = kind
        return found

    # -- housekeeping --------------------------------------------------------------------

    def sweep_temp_files(self) -> None:
        """Remove temp files left by a killed writer; they never hold committed data."""
        for folder in (self.run_id, self.key("state")):
            for name, kind in self.backend.listing(folder):
                if kind != "dir" and name.startswith(".") and name.endswith(".tmp"):
                    self.backend.remove(f"{folder}/{name}")

    def size_bytes(self) -> int:
        total = 0
        for folder in (self.run_id, self.key("state")):
            for name, kind in self.backend.listing(folder):
                if kind == "file":
                    total += self.backend.size(f"{folder}/{name}")
        return total
