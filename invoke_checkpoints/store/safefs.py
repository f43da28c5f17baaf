"""The file system as a store another local user may try to tamper with.

Every path below the store's root is opened one component at a time, relative to its parent's
file descriptor and with ``O_NOFOLLOW``: a symbolic link is never followed, even one swapped
in after a run started. Every directory and file met on the way is checked like ssh's
``StrictModes``: owned by a trusted user (the current one or root; for a read-only command,
the store's owner too) and writable by no one else. Reads are bounded in size and never block
(a FIFO planted at a file's name is refused, not waited on). ``OSError`` from a write becomes
:class:`~invoke_checkpoints.errors.StoreWriteError` naming the path and the errno.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import threading
from typing import TYPE_CHECKING

from ..errors import CheckpointError, CorruptCheckpointError, StoreWriteError, UntrustedStoreError
from .atomic import LINK, errno_name

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path

__all__ = ["MAX_FILE", "MAX_SMALL", "Walker", "read_error", "write_error"]

#: Size bounds of a read: a checkpoint.json or state file (64 MiB) and a marker or pointer.
MAX_FILE = 64 * 1024 * 1024
MAX_SMALL = 64 * 1024
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _O_CLOEXEC


def _at_fault(path: Path | str, exc: OSError) -> Path | str:
    """The path ``exc`` names when it is absolute (a directory met on the way), else ``path``."""
    name = exc.filename
    return name if isinstance(name, str) and name.startswith("/") else path


def _why(exc: OSError) -> str:
    return f"{exc.strerror or exc} ({errno_name(exc.errno)})"


def write_error(path: Path | str, exc: OSError) -> StoreWriteError:
    """One line naming the file and the errno: ``cannot write P: No space left... (ENOSPC)``."""
    where = _at_fault(path, exc)
    why = LINK if exc.errno == errno.ELOOP else _why(exc)
    return StoreWriteError(f"cannot write {where}: {why}", path=_as_path(where), errno=exc.errno)


def read_error(path: Path | str, exc: OSError) -> CheckpointError:
    """A file that cannot be read: a link (corrupt, repair replaces it), or an errno."""
    where = _at_fault(path, exc)
    if exc.errno == errno.ELOOP:
        return CorruptCheckpointError(f"{where}: {LINK}", path=_as_path(where))
    return CheckpointError(f"cannot read {where}: {_why(exc)}", path=_as_path(where))


def _named(exc: OSError, dir_fd: int, part: str, path: str) -> OSError:
    """``exc`` naming ``path``; ``ELOOP`` when ``part`` is a link (Linux says ``ENOTDIR`` for
    ``O_DIRECTORY|O_NOFOLLOW`` on a link)."""
    code = exc.errno
    if code in (errno.ENOTDIR, errno.ELOOP):
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.stat(part, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                code = errno.ELOOP
    return OSError(code, os.strerror(code) if code else str(exc), path)


def _as_path(where: Path | str) -> Path:
    from pathlib import Path

    return Path(where)


class _Opened:
    """``with``: a directory's descriptor, closed at the end when ``owned`` (a plain class: a
    generator-based context manager costs more than the rest of a held access)."""

    __slots__ = ("fd", "owned")

    def __init__(self, fd: int, *, owned: bool) -> None:
        self.fd, self.owned = fd, owned

    def __enter__(self) -> int:
        return self.fd

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            os.close(self.fd)


class Walker:
    """Opens the store's directories and files without following links, checking owners."""

    def __init__(self, root: Path, *, readonly: bool) -> None:
        self.root = root
        self.readonly = readonly
        self._euid = os.geteuid()
        self._owners: set[int] | None = None
        #: ``hold``: the prefix whose directories stay open, and their descriptors.
        self._held: tuple[str, ...] | None = None
        self._open_dirs: dict[tuple[str, ...], tuple[int, int, int]] = {}  # fd, dev, ino
        #: Held descriptors of directories moved or swapped since: closed with the others.
        self._retired: list[int] = []
        self._held_guard = threading.Lock()

    # -- trust -------------------------------------------------------------------------------

    def check(self, st: os.stat_result, path: Path | str) -> None:
        """Refuse what another user owns or may change (ssh's ``StrictModes``)."""
        owners = self._owners if self._owners is not None else {self._euid, 0}
        if st.st_uid not in owners:
            raise UntrustedStoreError(
                f"{path}: owned by uid {st.st_uid}, not by you (uid {self._euid}); the store "
                "trusts only its owner's files, so another user could have planted it: remove "
                "it (or run as its owner)",
                path=_as_path(path),
            )
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UntrustedStoreError(
                f"{path}: writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}), so "
                f"another user could change it: fix with `chmod go-w {path}`",
                path=_as_path(path),
            )

    def _open_root(self) -> int:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if self._owners is None:
                owners = {self._euid, 0}
                if self.readonly:  # a reader of another user's store trusts that user
                    owners.add(st.st_uid)
                self._owners = owners
            self.check(st, self.root)
        except BaseException:
            os.close(fd)
            raise
        return fd

    # -- walking -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self, prefix: Sequence[str]) -> Iterator[None]:
        """Keep the directories of ``prefix`` (and below it) open between accesses, until the
        block ends: a run's directories while its steps write, or while all its files are
        validated. Each access still checks every component as a walk does, with one
        ``stat`` each instead of an open, an fstat and a close: the same owner and mode checks,
        and a component that is no longer the directory held (moved, swapped for a link) is
        opened again as a walk would, which refuses what a walk refuses. An inner ``hold``
        changes nothing."""
        with self._held_guard:
            owner = self._held is None
            if owner:
                self._held = tuple(prefix)
        try:
            yield
        finally:
            if owner:
                with self._held_guard:
                    self._held = None
                    held = [fd for fd, _dev, _ino in self._open_dirs.values()] + self._retired
                    self._open_dirs, self._retired = {}, []
                for fd in held:
                    os.close(fd)

    def directory(self, parts: Sequence[str]) -> AbstractContextManager[int]:
        """A file descriptor of ``root/parts...``, each component opened without following a
        link and checked; an ``OSError`` names the component at fault in ``filename``. Closed
        when the block ends, unless held."""
        held = self._held
        if held is not None and tuple(parts[: len(held)]) == held:
            with self._held_guard:
                return _Opened(self._held_directory(parts), owned=False)
        return _Opened(self._walk(parts), owned=True)

    def _held_directory(self, parts: Sequence[str]) -> int:
        """``directory(parts)`` from the held descriptors (guard held): each component is
        ``stat``ed and checked; one that is not the directory held is opened again."""
        fd = -1
        path = str(self.root)
        for depth in range(len(parts) + 1):
            key = tuple(parts[:depth])
            entry = self._open_dirs.get(key)
            if depth == 0:
                st = os.stat(self.root)  # followed, as _open_root opens it
            else:
                part = parts[depth - 1]
                parent, path = path, f"{path}/{part}"
                try:
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                except OSError as exc:
                    # EACCES: the parent may not be searched; a walk, opening it, named it.
                    where = parent if exc.errno == errno.EACCES else path
                    raise _named(exc, fd, part, where) from None
            if entry is not None and (entry[1], entry[2]) == (st.st_dev, st.st_ino):
                self.check(st, path)
                fd = entry[0]
                continue
            if entry is not None:
                # Not closed yet: another thread may be writing through it, and its number,
                # reused by the next open anywhere in the process, would take that write
                # out of the store.
                self._retired.append(self._open_dirs.pop(key)[0])
            if depth == 0:
                child = self._open_root()
                opened = os.fstat(child)
            else:
                child, opened = self._open_child(fd, part, path)
            self._open_dirs[key] = (child, opened.st_dev, opened.st_ino)
            fd = child
        return fd

    def _open_child(self, fd: int, part: str, path: str) -> tuple[int, os.stat_result]:
        """The directory ``part`` of ``fd`` opened without following a link, and its checked
        ``fstat``; an ``OSError`` names ``path``."""
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            raise _named(exc, fd, part, path) from None
        try:
            st = os.fstat(child)
            self.check(st, path)
        except BaseException:
            os.close(child)
            raise
        return child, st

    def _walk(self, parts: Sequence[str]) -> int:
        fd = self._open_root()
        path = str(self.root)
        try:
            for part in parts:
                path = f"{path}/{part}"
                child, _ = self._open_child(fd, part, path)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def read(self, parts: Sequence[str], name: str, path: Path, limit: int) -> bytes:
        """The bytes of a regular file of a trusted owner, at most ``limit`` of them."""
        with self.directory(parts) as dfd:
            fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
        return self._read_open(fd, path, limit)

    def read_many(
        self, parts: Sequence[str], names: Sequence[str], base: str, limit: int
    ) -> dict[str, bytes | None]:
        """``read`` of each of ``names`` in one directory, whose components are checked once
        for all of them (``None``: a file that is missing); ``base``: the directory's path,
        for messages. A file that cannot be read raises as ``read`` does."""
        found: dict[str, bytes | None] = {}
        with self.directory(parts) as dfd:
            for name in names:
                path = f"{base}/{name}"
                try:
                    fd = os.open(name, _READ_FLAGS, dir_fd=dfd)
                    found[name] = self._read_open(fd, path, limit)
                except FileNotFoundError:
                    found[name] = None
                except OSError as exc:
                    raise read_error(path, exc) from None
        return found

    def _read_open(self, fd: int, path: Path | str, limit: int) -> bytes:
        """The bytes of the open file ``fd`` (closed here) after the checks ``read`` makes."""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CorruptCheckpointError(f"{path}: not a regular file", path=_as_path(path))
            self.check(st, path)
            chunks: list[bytes] = []
            total = 0
            while total <= limit:
                # Its size and one byte more (its end in one read), not the most it may hold:
                # os.read allocates what it is asked for (1 MiB a state file, 8 us on tmpfs).
                want = min(1 << 20, limit + 1 - total, max(st.st_size - total + 1, 4096))
                chunk = os.read(fd, want)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if len(chunk) < want and total == st.st_size:
                    break  # all of it (a regular file): no read just to meet its end
            if total > limit:
                raise CorruptCheckpointError(
                    f"{path}: larger than {limit} bytes, more than this file can be",
                    path=_as_path(path),
                )
            return b"".join(chunks)
        finally:
            os.close(fd)

    def stat(self, parts: Sequence[str], name: str) -> os.stat_result | None:
        """``lstat`` of ``name`` (``None`` when missing); a linked parent raises ``ELOOP``."""
        try:
            with self.directory(parts) as dfd:
                return os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
