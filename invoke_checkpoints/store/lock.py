"""The workflow lock: one active run of a workflow per store (filelock), and who holds it."""

from __future__ import annotations

import json
import os
import socket
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, LockHeldError
from .atomic import PRIVATE_MODES, atomic_write

if TYPE_CHECKING:
    from pathlib import Path

    from filelock import BaseFileLock

__all__ = ["WorkflowLock"]


class WorkflowLock:
    """The flock that makes one run of a workflow active at a time; the kernel frees it on kill."""

    def __init__(self, path: Path, workflow: str) -> None:
        self.path = path
        self.workflow = workflow
        self.info_path = path.with_name(path.name + ".json")
        self._lock: BaseFileLock | None = None

    def try_acquire(self) -> bool:
        from filelock import FileLock, Timeout

        self.path.parent.mkdir(mode=PRIVATE_MODES[0], parents=True, exist_ok=True)
        lock = FileLock(self.path, mode=PRIVATE_MODES[1])
        try:
            lock.acquire(blocking=False)
        except Timeout:
            return False
        except OSError as exc:  # a symlink planted in the store (ELOOP), a foreign file (EACCES)
            raise CheckpointError(
                f"{self.path}: cannot open the lock file ({exc.strerror}); it must be a regular "
                "file of yours: remove it and run again",
                path=self.path,
            ) from None
        self._lock = lock
        return True

    def acquire(self) -> None:
        """Take the lock or fail at once with one line naming the active run."""
        if self.try_acquire():
            self.record(run_id=None)
            return
        holder = self.holder()
        who = holder.get("run_id") or "a run starting up"
        raise LockHeldError(
            f"workflow {self.workflow!r} is already running: {who} (pid {holder.get('pid', '?')} "
            f"on {holder.get('host', '?')}); wait for it to finish or stop that process",
            run_id=str(holder["run_id"]) if holder.get("run_id") else None,
            path=self.path,
        )

    def record(self, run_id: str | None) -> None:
        """Say who holds the lock, for the error message of a second invocation.

        Only the holder writes it, so its temp file has a fixed name: one left by a killed
        holder is simply overwritten by the next, and no scan of the store sweeps for it.
        """
        info = {"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname()}
        tmp = self.info_path.with_name(f".{self.info_path.name}.tmp")
        atomic_write(self.info_path, json.dumps(info).encode(), durable=False, tmp=tmp)

    def holder(self) -> dict[str, Any]:
        try:
            data = json.loads(self.info_path.read_bytes())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
