"""The storage seam: the few operations the store needs, behind one small interface.

Keys are ``/``-separated paths relative to the store (``<run>/checkpoint.json``,
``<run>/state/step_00_state.json``, ``<workflow>.smart.json``). :class:`LocalBackend` keeps
them as files under a directory; ``s3.py``'s ``S3Backend`` keeps them as objects in a bucket
(``checkpoints.dir: s3://bucket/prefix``) behind the same :class:`Backend` protocol.
Nothing outside ``store/`` touches a store file itself.

The local backend never follows a symbolic link inside the store: reads and writes refuse them
(files are opened relative to their directory's descriptor, one component at a time), listings
report them as ``link`` so that the run holding one is refused, deletes rename them away. It
trusts only its user's files (``safefs.py``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from typing import TYPE_CHECKING, Literal, Protocol

from ..errors import CorruptCheckpointError
from .atomic import PRIVATE_MODES, SHARED_MODES, atomic_write
from .safefs import MAX_FILE, Walker, read_error, write_error

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager
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

    def acquire(self, *, doing: str | None = None) -> None:
        """Take the lock or fail with one line (``LockHeldError``) naming the holder."""

    def record(self, run_id: str | None) -> None:
        """Say which run holds the lock."""

    def holder(self) -> dict[str, Any]:
        """Who holds it (``run_id``, ``pid``, ``host``); ``{}`` when unknown."""

    def is_held(self) -> bool:
        """Whether someone holds it now, asked without writing anything."""

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
    #: The cost model the recorder writes by (seconds; ``run/record.py``): checkpoint.json is
    #: rewritten after a step at most this often, unless the step took as long...
    checkpoint_interval: float
    #: ...and a step's ``running`` state is written once it has run this long.
    running_state_delay: float

    def where(self, key: str) -> Path:
        """Where ``key`` is, for messages and for ``RunInfo.path``: a local path, or a
        ``RemotePath`` (no local file) whose ``str()`` is its ``s3://`` URL."""

    def kind(self, key: str) -> Kind | None:
        """What ``key`` names, without following links."""

    def size(self, key: str) -> int:
        """The size of the file ``key`` in bytes (0 when it is gone)."""

    def read(self, key: str, *, limit: int = ...) -> bytes:
        """The bytes of ``key``, at most ``limit`` of them; ``CorruptCheckpointError`` when
        missing, a link, not a regular file or too big."""

    def read_many(
        self, key: str, names: Sequence[str], *, limit: int = ...
    ) -> dict[str, bytes | None]:
        """``read`` of the files ``names`` under the prefix ``key`` (a run's files being
        validated): ``None`` for one that is missing, ``CorruptCheckpointError`` as ``read``
        for any other that cannot be read."""

    def replace(self, key: str, data: bytes, *, durable: bool, sync_dir: bool = True) -> None:
        """Write ``key`` atomically: readers see the old or the new bytes, never a mix."""

    def held(self, key: str) -> AbstractContextManager[None]:
        """While the block runs, what the prefix ``key`` needs for each access is kept (a local
        store keeps its directories open); nothing changes for a caller."""

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
    """The store as a directory tree (the default): ``.checkpoints/`` beside tasks.py.

    Every operation below the root goes through :class:`~.safefs.Walker`: no link is
    followed, every file and directory must be its user's, reads are bounded, and an
    ``OSError`` of a write is a ``StoreWriteError`` naming the path and the errno.
    """

    remote = False
    #: A write is a rename in the page cache (~50 us): checkpoint.json may be rewritten often.
    checkpoint_interval = 0.1
    running_state_delay = 0.1

    def __init__(
        self, root: Path, *, durable: bool = True, shared: bool = False, readonly: bool = False
    ) -> None:
        self.root = root
        self.location = str(root)
        self.durable = durable
        #: A read-only command (``status``, ``list``): writes nothing, trusts the store's owner.
        self.readonly = readonly
        #: Modes of new directories and files: private by default, 0755/0644 when shared.
        self.dir_mode, self.file_mode = SHARED_MODES if shared else PRIVATE_MODES
        self.walker = Walker(root, readonly=readonly)

    def where(self, key: str) -> Path:
        return self.root / key if key else self.root

    def _writing(self, key: str) -> _Writing:
        """``with``: an ``OSError`` of the block becomes a ``StoreWriteError`` naming ``key``."""
        return _Writing(self, key)

    def kind(self, key: str) -> Kind | None:
        parts, name = _split(key)
        try:
            st = self.walker.stat(parts, name)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "link"  # under a linked directory: never looked into
            raise read_error(self.where(key), exc) from None
        return None if st is None else _kind(st.st_mode)

    def size(self, key: str) -> int:
        parts, name = _split(key)
        try:
            st = self.walker.stat(parts, name)
        except OSError:
            return 0
        return st.st_size if st is not None else 0

    def read(self, key: str, *, limit: int = MAX_FILE) -> bytes:
        path = self.where(key)
        parts, name = _split(key)
        try:
            return self.walker.read(parts, name, path, limit)
        except (FileNotFoundError, NotADirectoryError):
            raise CorruptCheckpointError(f"{path}: file is missing", path=path) from None
        except OSError as exc:
            raise read_error(path, exc) from None

    def read_many(
        self, key: str, names: Sequence[str], *, limit: int = MAX_FILE
    ) -> dict[str, bytes | None]:
        base = str(self.where(key))
        try:
            return self.walker.read_many(key.split("/") if key else [], names, base, limit)
        except (FileNotFoundError, NotADirectoryError):
            return dict.fromkeys(names)  # the directory itself is gone: so are its files
        except OSError as exc:
            raise read_error(base, exc) from None

    def replace(self, key: str, data: bytes, *, durable: bool, sync_dir: bool = True) -> None:
        durable = durable and self.durable
        parts, name = _split(key)
        with self._writing(key), self.walker.directory(parts) as fd:
            atomic_write(fd, name, data, durable=durable, sync_dir=sync_dir, mode=self.file_mode)

    def held(self, key: str) -> AbstractContextManager[None]:
        return self.walker.hold(key.split("/") if key else [])

    def ensure_dir(self) -> None:
        """Create the store's root directory (and its parents) if it is missing."""
        path = self.root
        with self._writing(""):
            if path.is_dir():
                return
            if path.exists() or path.is_symlink():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
            path.mkdir(mode=self.dir_mode, parents=True, exist_ok=True)

    def listing(self, key: str = "") -> list[tuple[str, Kind]]:
        found: list[tuple[str, Kind]] = []
        try:
            with self.walker.directory(key.split("/") if key else []) as fd, os.scandir(fd) as it:
                for entry in it:
                    with contextlib.suppress(OSError):  # gone since the listing: not there
                        found.append((entry.name, _entry_kind(entry)))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise read_error(self.where(key), exc) from None
        return found

    def names(self, key: str = "") -> list[str]:
        """Entry names only, from one ``listdir`` (the fast path of finding the latest run)."""
        try:
            return os.listdir(self.where(key))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def remove(self, key: str) -> None:
        parts, name = _split(key)
        with (
            self._writing(key),
            contextlib.suppress(FileNotFoundError),
            self.walker.directory(parts) as fd,
        ):
            os.unlink(name, dir_fd=fd)

    def remove_run(self, key: str, tombstone: str) -> None:
        with self._writing(key):
            with self.walker.directory(()) as fd:
                os.replace(key, tombstone, src_dir_fd=fd, dst_dir_fd=fd)
            # rmtree never follows a link, and refuses one in place of the renamed directory.
            shutil.rmtree(self.where(tombstone))

    def remove_staging(self, key: str) -> None:
        """Remove a run prefix whose creator was killed before it was renamed into place
        (or a run's ``.deleting-`` tombstone whose ``clean`` was killed)."""
        shutil.rmtree(self.where(key), ignore_errors=True)

    def keep_aside(self, key: str, kept: str, *, move: bool) -> None:
        parts, name = _split(key)
        _, target = _split(kept)
        with self._writing(kept), self.walker.directory(parts) as fd:
            if move:
                os.rename(name, target, src_dir_fd=fd, dst_dir_fd=fd)
                return
            try:  # a second name for the same file: the original stays until replaced
                os.link(name, target, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
            except OSError:
                shutil.copy2(self.where(key), self.where(kept), follow_symlinks=False)

    def make_run(self, key: str, build: Callable[[str], None], staging: str) -> None:
        with self._writing(staging):
            with self.walker.directory(()) as fd:
                os.mkdir(staging, self.dir_mode, dir_fd=fd)
            with self.walker.directory((staging,)) as fd:
                os.mkdir("state", self.dir_mode, dir_fd=fd)
        build(staging)
        # No other process creates runs of this workflow: the caller holds its lock.
        with self._writing(key), self.walker.directory(()) as fd:
            os.rename(staging, key, src_dir_fd=fd, dst_dir_fd=fd)
            if self.durable:
                os.fsync(fd)

    def mtime(self, key: str) -> float | None:
        parts, name = _split(key)
        try:
            st = self.walker.stat(parts, name)
        except OSError:
            return None
        return st.st_mtime if st is not None else None

    def lock(self, name: str, workflow: str) -> WorkflowLock:
        from .lock import WorkflowLock

        return WorkflowLock(self, name, workflow)


class _Writing:
    """``LocalBackend._writing``: a plain class, not a generator-based context manager, which
    would cost more than the rest of a write's Python (a run writes twice a step)."""

    __slots__ = ("backend", "key")

    def __init__(self, backend: LocalBackend, key: str) -> None:
        self.backend, self.key = backend, key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, OSError):
            raise write_error(self.backend.where(self.key), exc) from None


def _split(key: str) -> tuple[list[str], str]:
    """``("a/b/c")`` -> ``(["a", "b"], "c")``."""
    *parts, name = key.split("/")
    return parts, name


def _entry_kind(entry: os.DirEntry[str]) -> Kind:
    """``_kind`` of an entry from the type the directory listing carries (no ``lstat`` per
    entry, where the file system gives it, as ext4 and xfs do)."""
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if entry.is_file(follow_symlinks=False) else "other"


def _kind(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "link" if stat.S_ISLNK(mode) else "other"
