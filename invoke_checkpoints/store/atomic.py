"""Atomic, durable file writes (unique temp file, fsync, ``os.replace``, directory fsync) relative
to a directory file descriptor, with the test-only fault injection of the crash matrix."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "LINK",
    "PRIVATE_MODES",
    "SHARED_MODES",
    "atomic_write",
    "errno_name",
    "is_temp_name",
    "temp_pid",
    "write_file",
]

LINK = "is a symbolic link; a run's files are never read or written through links"
#: (directory, file) modes: private by default, the spec's 0755/0644 with permissions: shared.
PRIVATE_MODES = (0o700, 0o600)
SHARED_MODES = (0o755, 0o644)
#: ``.<name>.<pid>.<random>.tmp``: the temp file of an atomic write (see ``is_temp_name``).
_TEMP = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{16}\.tmp\Z", re.ASCII)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _parse_fault(spec: str) -> tuple[str, int] | None:
    stage, _, nth = spec.partition(":")
    if stage in _FAULT_STAGES and nth.isdigit():
        return stage, int(nth)
    return None


#: Test-only fault injection for the crash matrix (tests/reliability): with
#: INVOKE_CHECKPOINTS_FAULT=<stage>:<n>, the n-th atomic write of the process SIGKILLs it right
#: after <stage> (write, fsync, rename or dirsync). Off unless that variable is set.
_FAULT_STAGES = ("write", "fsync", "rename", "dirsync")
_FAULT = _parse_fault(os.environ.get("INVOKE_CHECKPOINTS_FAULT", ""))
_WRITES = itertools.count(1)
#: A temp name's 16 hex digits: 8 random ones drawn once per process (a stale temp file of an
#: earlier process with the same pid is not taken for ours) and a counter (unique within the
#: process, without a getrandom call per write; O_EXCL and a retry cover the rest).
_PREFIX = os.urandom(4).hex()
_TEMPS = itertools.count()


def _crash_point(nth: int, stage: str) -> None:
    if _FAULT is not None and (stage, nth) == _FAULT:
        os.kill(os.getpid(), signal.SIGKILL)


def errno_name(code: int | None) -> str:
    """``ENOSPC`` for ``errno.ENOSPC``; ``errno N`` for a code without a name."""
    return errno.errorcode.get(code, f"errno {code}") if code is not None else "errno ?"


def is_temp_name(name: str) -> bool:
    """A temp file of an atomic write (never committed data: a killed writer's leftover)."""
    return _TEMP.match(name) is not None


def temp_pid(name: str) -> int | None:
    """The pid of the process that created the temp file ``name``."""
    m = _TEMP.match(name)
    return int(m.group(1)) if m else None


def _create_temp(dir_fd: int, name: str, mode: int) -> tuple[int, str]:
    """A new temp file beside ``name``: a unique name, created exclusively, never through a
    link or into a FIFO planted at that name (``O_EXCL|O_NOFOLLOW``)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC
    for _ in range(100):
        tmp = f".{name}.{os.getpid()}.{_PREFIX}{next(_TEMPS) & 0xFFFFFFFF:08x}.tmp"
        try:
            return os.open(tmp, flags, mode, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), name)


def atomic_write(
    dir_fd: int,
    name: str,
    data: bytes,
    *,
    durable: bool = True,
    sync_dir: bool = True,
    mode: int = PRIVATE_MODES[1],
) -> None:
    """Write ``data`` to ``name`` in the directory ``dir_fd`` so that a crash leaves either the
    old or the new file, never half; an ``OSError`` leaves the old file and no temp file.

    Temp file in the same directory, fsync, ``os.replace``, fsync the directory. With
    ``durable=False`` both fsyncs are skipped (``checkpoints.fsync: false``, or a file that can
    be rebuilt); ``sync_dir=False`` leaves the directory fsync to a later durable write in the
    same directory (one directory fsync persists every rename made in it before).
    """
    nth = next(_WRITES) if _FAULT is not None else 0
    fd, tmp = _create_temp(dir_fd, name, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            _crash_point(nth, "write")
            if durable:
                os.fsync(fd)
                _crash_point(nth, "fsync")
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    _crash_point(nth, "rename")
    if durable and sync_dir:
        os.fsync(dir_fd)
        _crash_point(nth, "dirsync")


def write_file(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o600) -> None:
    """Write a file of the user's outside the store (an exported run, a report) atomically.

    Replacing is only for a regular file (or none): a symbolic link, FIFO, device or directory
    at ``path`` is refused with ``IsADirectoryError``/``FileExistsError`` naming what it is, so
    that ``--output`` never swaps a link or a device node for a plain file."""
    import stat as _stat

    with contextlib.suppress(FileNotFoundError):
        mode_now = os.lstat(path).st_mode
        if not _stat.S_ISREG(mode_now):
            kind = (
                "a symbolic link"
                if _stat.S_ISLNK(mode_now)
                else "a directory"
                if _stat.S_ISDIR(mode_now)
                else "a FIFO, socket or device"
            )
            raise FileExistsError(errno.EEXIST, f"it is {kind}, not a regular file", str(path))
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        atomic_write(dir_fd, path.name, data, durable=durable, mode=mode)
    finally:
        os.close(dir_fd)
