"""The storage seam: the few operations the store needs, behind one small interface.

Keys are ``/``-separated paths relative to the store (``<run>/checkpoint.json``,
``<run>/state/step_00_state.json``, ``<workflow>.smart.json``). :class:`LocalBackend` keeps
them as files under a directory; ``s3.py``'s ``S3Backend`` keeps them as objects in a bucket
(``checkpoints.dir: s3://bucket/prefix``) behind the same :class:`Backend` protocol.
Nothing outside ``store/`` touches a store file itself.

The local backend never follows a symbolic link inside the store: reads refuse them, listings
report them as ``link`` so that the run holding one is refused, deletes rename them away.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import CorruptCheckpointError
from .atomic import LINK, PRIVATE_MODES, SHARED_MODES, atomic_write, fsync_dir

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from .lock import WorkflowLock

__all__ = ["Backend", "Kind", "LocalBackend", "RunLock"]

#: What a key names: a ``file``, a ``dir`` (a prefix holding keys), a ``link`` (never
#: followed), ``other`` (a FIFO, a socket...), or ``None`` when nothing is there.
Kind = Literal["file", "dir", "link", "other"]


class RunLock(Protocol):
    """The lock that keeps one run of a workflow active at a time (a flock locally, a lease
    in a bucket)."""

    @property
    def path(self) -> Path:
        """The lock file or object, for messages."""

    def try_acquire(self) -> bool:
        """Take the lock if it is free, at once; ``False`` when someone holds it."""

    def acquire(self) -> None:
        """Take the lock or fail with one line (``LockHeldError``) naming the holder."""

    def record(self, run_id: str | None) -> None:
        """Say which run holds the lock."""

    def holder(self) -> dict[str, Any]:
        """Who holds it (``run_id``, ``pid``, ``host``); ``{}`` when unknown."""

    def release(self) -> None:
        """Let the lock go."""


class Backend(Protocol):
    """What the store needs from where it keeps its files."""

    #: Shown in messages (a directory, or a bucket URL).
    location: str
    #: fsync (or the remote equivalent) is on: a completed write survives a power cut.
    durable: bool
    #: Object storage: no directories of its own, nothing to fsync, a lease for a lock.
    remote: bool

    def where(self, key: str) -> Path:
        """Where ``key`` is, for messages and for ``RunInfo.path``: a local path, or a
        ``RemotePath`` (no local file) whose ``str()`` is its ``s3://`` URL."""

    def kind(self, key: str) -> Kind | None:
        """What ``key`` names, without following links."""

    def size(self, key: str) -> int:
        """The size of the file ``key`` in bytes (0 when it is gone)."""

    def read(self, key: str) -> bytes:
        """The bytes of ``key``; ``CorruptCheckpointError`` when missing, a link or unreadable."""

    def replace(self, key: str, data: bytes, *, durable: bool, sync_dir: bool = True) -> None:
        """Write ``key`` atomically: readers see the old or the new bytes, never a mix."""

    def listing(self, key: str = "") -> list[tuple[str, Kind]]:
        """``(name, kind)`` of the entries directly under ``key`` (``[]`` when it is none)."""

    def remove(self, key: str) -> None:
        """Remove one file; nothing happens when it is already gone."""

    def remove_run(self, key: str, tombstone: str) -> None:
        """Remove a run's whole prefix: first renamed to ``tombstone`` (so a half-deleted run
        never looks like a run again), then deleted."""

    def keep_aside(self, key: str, kept: str, *, move: bool) -> None:
        """Keep a damaged file as ``kept``: moved, or (``move=False``) a second name for it."""

    def make_run(self, key: str, build: Callable[[str], None], staging: str) -> None:
        """Create the run prefix ``key`` whole or not at all: ``build(staging)`` writes its
        first files under ``staging``, which is then renamed to ``key``."""

    def mtime(self, key: str) -> float | None:
        """When ``key`` last changed (seconds since the epoch), ``None`` if unknown."""

    def lock(self, name: str, workflow: str) -> RunLock:
        """The lock ``name`` that keeps one run of ``workflow`` active at a time."""


class LocalBackend:
    """The store as a directory tree (the default): ``.checkpoints/`` beside tasks.py."""

    remote = False

    def __init__(self, root: Path, *, durable: bool = True, shared: bool = False) -> None:
        self.root = root
        self.location = str(root)
        self.durable = durable
        #: Modes of new directories and files: private by default, 0755/0644 when shared.
        self.dir_mode, self.file_mode = SHARED_MODES if shared else PRIVATE_MODES

    def where(self, key: str) -> Path:
        return self.root / key if key else self.root

    def kind(self, key: str) -> Kind | None:
        try:
            mode = os.lstat(self.where(key)).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _kind(mode)

    def size(self, key: str) -> int:
        try:
            return os.lstat(self.where(key)).st_size
        except OSError:
            return 0

    def read(self, key: str) -> bytes:
        path = self.where(key)
        try:
            with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise CorruptCheckpointError(f"{path}: file is missing", path=path) from None
        except OSError as exc:
            why = LINK if exc.errno == errno.ELOOP else f"cannot read ({exc.strerror})"
            raise CorruptCheckpointError(f"{path}: {why}", path=path) from None

    def replace(self, key: str, data: bytes, *, durable: bool, sync_dir: bool = True) -> None:
        durable = durable and self.durable
        atomic_write(self.where(key), data, durable=durable, sync_dir=sync_dir, mode=self.file_mode)

    def ensure_dir(self, key: str = "") -> None:
        path = self.where(key)
        if not path.is_dir():
            path.mkdir(mode=self.dir_mode, parents=True, exist_ok=True)

    def listing(self, key: str = "") -> list[tuple[str, Kind]]:
        found: list[tuple[str, Kind]] = []
        try:
            with os.scandir(self.where(key)) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):  # gone since the listing: not there
                        found.append((entry.name, _kind(entry.stat(follow_symlinks=False).st_mode)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return found

    def names(self, key: str = "") -> list[str]:
        """Entry names only, from one ``listdir`` (the fast path of finding the latest run)."""
        try:
            return os.listdir(self.where(key))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.where(key))

    def remove_run(self, key: str, tombstone: str) -> None:
        doomed = self.where(tombstone)
        os.replace(self.where(key), doomed)
        shutil.rmtree(doomed)

    def remove_staging(self, key: str) -> None:
        """Remove a run prefix whose creator was killed before it was renamed into place."""
        shutil.rmtree(self.where(key), ignore_errors=True)

    def keep_aside(self, key: str, kept: str, *, move: bool) -> None:
        path, target = self.where(key), self.where(kept)
        if move:
            os.rename(path, target)
            return
        try:  # a second name for the same file: the original stays in place until replaced
            os.link(path, target, follow_symlinks=False)
        except OSError:
            shutil.copy2(path, target, follow_symlinks=False)

    def make_run(self, key: str, build: Callable[[str], None], staging: str) -> None:
        tmp = self.where(staging)
        tmp.mkdir(mode=self.dir_mode)
        (tmp / "state").mkdir(mode=self.dir_mode)
        build(staging)
        # No other process creates runs of this workflow: the caller holds its lock.
        os.rename(tmp, self.where(key))
        if self.durable:
            fsync_dir(self.root)

    def mtime(self, key: str) -> float | None:
        try:
            return os.stat(self.where(key), follow_symlinks=False).st_mtime
        except OSError:
            return None

    def lock(self, name: str, workflow: str) -> WorkflowLock:
        from .lock import WorkflowLock

        return WorkflowLock(self.where(name), workflow)


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "link" if stat.S_ISLNK(mode) else "other"
