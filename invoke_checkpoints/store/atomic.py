"""Atomic, durable file writes (temp file, fsync, ``os.replace``, directory fsync), with the
test-only fault injection of the crash matrix."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["LINK", "PRIVATE_MODES", "SHARED_MODES", "atomic_write", "fsync_dir"]

LINK = "is a symbolic link; a run's files are never read or written through links"
#: (directory, file) modes: private by default, the spec's 0755/0644 with permissions: shared.
PRIVATE_MODES = (0o700, 0o600)
SHARED_MODES = (0o755, 0o644)


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


def _crash_point(nth: int, stage: str) -> None:
    if _FAULT is not None and (stage, nth) == _FAULT:
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path,
    data: bytes,
    *,
    durable: bool = True,
    sync_dir: bool = True,
    mode: int = PRIVATE_MODES[1],
    tmp: Path | None = None,
) -> None:
    """Write ``data`` to ``path`` so a crash leaves either the old or the new file, never half.

    Temp file in the same directory, fsync, ``os.replace``, fsync the directory. With
    ``durable=False`` both fsyncs are skipped (``checkpoints.fsync: false``, or a file that can
    be rebuilt); ``sync_dir=False`` leaves the directory fsync to a later durable write in the
    same directory (one directory fsync persists every rename made in it before).
    """
    nth = next(_WRITES) if _FAULT is not None else 0
    # One writer per run (the workflow lock); pid+thread keep temp names distinct anyway.
    if tmp is None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        _crash_point(nth, "write")
        if durable:
            os.fsync(fd)
            _crash_point(nth, "fsync")
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    os.close(fd)
    os.replace(tmp, path)
    _crash_point(nth, "rename")
    if durable and sync_dir:
        fsync_dir(path.parent)
        _crash_point(nth, "dirsync")
