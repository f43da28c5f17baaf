"""The workflow locks: one active run of a workflow per store, and who holds it.

Two kernel ``flock`` locks per workflow, both freed by the kernel when their process dies:

- ``<workflow>.lock``: held by an invocation for its whole life (a run, a resume, a repair).
  ``<workflow>.lock.json`` says who holds it and, once chosen, which run it took.
- ``<workflow>.runs.lock``: held while runs of the workflow are chosen, created or deleted:
  by a run or resume from taking its lock until it has recorded its run in ``.lock.json``
  (so the validation of a resume happens under it), by ``clean`` and ``repair`` throughout.
  ``clean`` therefore sees either no holder, or a holder whose run is recorded and kept.

Lock files are opened without following links and must be regular files of the store's user;
a read-only command (``status``, ``list``) probes them with a shared lock on a read-only
descriptor, so it never writes to the store.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CheckpointError, LockHeldError
from .safefs import MAX_SMALL, write_error

if TYPE_CHECKING:
    from pathlib import Path

    from .safefs import Walker


class LockFiles(Protocol):
    """What the locks need of the local backend (``backend.LocalBackend``)."""

    walker: Walker
    file_mode: int

    def where(self, key: str) -> Path: ...

    def kind(self, key: str) -> Any: ...

    def read(self, key: str, *, limit: int) -> bytes: ...

    def replace(self, key: str, data: bytes, *, durable: bool, sync_dir: bool = True) -> None: ...


__all__ = ["GUARD_TIMEOUT", "LockFiles", "RunsGuard", "WorkflowLock"]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
#: How long a command waits for another to finish choosing or deleting runs (seconds).
GUARD_TIMEOUT = 120.0


def _open_lock(backend: LockFiles, key: str, *, create: bool) -> int:
    """A descriptor of the lock file ``key``: never through a link, a regular file of ours."""
    path = backend.where(key)
    if create:
        flags, mode = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | _O_CLOEXEC, backend.file_mode
    else:
        flags, mode = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _O_CLOEXEC, 0
    try:
        with backend.walker.directory(()) as dfd:
            fd = os.open(key, flags, mode, dir_fd=dfd)
    except OSError as exc:
        if create and exc.errno != errno.ELOOP:  # ENOSPC, EROFS, EACCES (another's store)
            raise write_error(path, exc) from None
        raise CheckpointError(
            f"{path}: cannot open the lock file ({exc.strerror}); it must be a regular file of "
            "yours: remove it and run again",
            path=path,
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise CheckpointError(
                f"{path}: the lock file is not a regular file: remove it and run again", path=path
            )
        backend.walker.check(st, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class RunsGuard:
    """``<workflow>.runs.lock``: held while runs are chosen, created or deleted (see above)."""

    def __init__(self, backend: LockFiles, workflow: str) -> None:
        self.backend = backend
        self.workflow = workflow
        self.key = f"{workflow}.runs.lock"
        self._fd: int | None = None

    def acquire(self, timeout: float = GUARD_TIMEOUT) -> None:
        """Wait (briefly: a clean, or a run choosing its run) until no other command holds it."""
        fd = _open_lock(self.backend, self.key, create=True)
        deadline = time.monotonic() + timeout
        pause = 0.005
        while not _try_flock(fd, fcntl.LOCK_EX):
            if time.monotonic() > deadline:
                os.close(fd)
                raise LockHeldError(
                    f"another command has been choosing or removing runs of workflow "
                    f"{self.workflow!r} for {timeout:.0f} s ({self.backend.where(self.key)}); "
                    "try again once it has finished",
                    path=self.backend.where(self.key),
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None

    def __enter__(self) -> RunsGuard:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class WorkflowLock:
    """The flock that makes one run of a workflow active at a time; the kernel frees it on kill."""

    def __init__(self, backend: LockFiles, name: str, workflow: str) -> None:
        self.backend = backend
        self.key = name
        self.path = backend.where(name)
        self.workflow = workflow
        self.info_key = name + ".json"
        self.info_path = backend.where(self.info_key)
        self.guard = RunsGuard(backend, workflow)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        fd = _open_lock(self.backend, self.key, create=True)
        if not _try_flock(fd, fcntl.LOCK_EX):
            os.close(fd)
            return False
        self._fd = fd
        return True

    def acquire(self, *, doing: str | None = None) -> None:
        """Take the lock (then the runs guard) or fail at once with one line naming the active
        run; ``doing`` (``"repair"``) words the refusal for a command other than a run."""
        if self.try_acquire():
            try:
                self.guard.acquire()
                self.record(run_id=None)
            except BaseException:
                self.release()
                raise
            return
        holder = self.holder()
        who = holder.get("run_id") or "a run starting up"
        busy = (
            f"workflow {self.workflow!r} is running: {who}"
            if doing
            else (f"workflow {self.workflow!r} is already running: {who}")
        )
        advice = f"{doing} once it stops" if doing else "wait for it to finish or stop that process"
        raise LockHeldError(
            f"{f'cannot {doing} now: ' if doing else ''}{busy} (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}); {advice}",
            run_id=str(holder["run_id"]) if holder.get("run_id") else None,
            path=self.path,
        )

    def record(self, run_id: str | None) -> None:
        """Say who holds the lock (and, once chosen, its run) for a second invocation's message
        and for ``clean``, which keeps that run. Recording a run releases the runs guard: from
        then on, ``clean`` knows which run to keep."""
        info = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname()}
        self.backend.replace(self.info_key, json.dumps(info).encode(), durable=False)
        if run_id is not None:
            self.guard.release()

    def holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.backend.read(self.info_key, limit=MAX_SMALL))
        except (CheckpointError, ValueError, RecursionError):
            return {}
        return data if isinstance(data, dict) else {}

    def is_held(self) -> bool:
        """Whether a process holds the lock now, probed without writing (a shared lock on a
        read-only descriptor); ``False`` when there is no lock file or it cannot be opened."""
        if self.backend.kind(self.key) is None:
            return False
        try:
            fd = _open_lock(self.backend, self.key, create=False)
        except CheckpointError:
            return False
        try:
            return not _try_flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(fd)

    def release(self) -> None:
        self.guard.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
