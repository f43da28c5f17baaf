"""Errors a user can cause; each carries the path or run at fault and says how to proceed.

Every subclass of :class:`CheckpointError` is turned into ``invoke.Exit(message, 2)`` by the
command layer: one line on stderr, no traceback, exit code 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CheckpointError",
    "CorruptCheckpointError",
    "IncompatibleRunError",
    "InvalidRunIdError",
    "LeaseLostError",
    "LockHeldError",
    "NotInStepError",
    "RemoteStoreError",
    "StoreWriteError",
    "UnknownRunError",
    "UnknownStepError",
    "UntrustedStoreError",
]

#: Exit code for every user-caused error (bad flag, unknown run, corrupt file, lock held).
USAGE_EXIT_CODE = 2


class CheckpointError(Exception):
    """Base class: a problem with a workflow's checkpoints that the user can fix."""

    #: The run id at fault, when one is known.
    run_id: str | None = None
    #: The file or directory at fault, when one is known.
    path: Path | None = None

    def __init__(
        self, message: str, *, run_id: str | None = None, path: Path | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.run_id = run_id
        self.path = path

    def __str__(self) -> str:
        return self.message


class InvalidRunIdError(CheckpointError, ValueError):
    """A run id given on the command line is not of the form ``<name>_YYYYMMDD_HHMMSS[_N]``."""


class UnknownRunError(CheckpointError, LookupError):
    """No run with that id (or no run at all) exists in the store."""


class UnknownStepError(CheckpointError, LookupError):
    """``--resume-from`` names a step number or name the workflow does not have."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file cannot be parsed or fails validation."""


class IncompatibleRunError(CheckpointError):
    """A run was written by a newer format or for a different step list."""


class LockHeldError(CheckpointError):
    """Another process is running this workflow on the same store."""


class LeaseLostError(LockHeldError):
    """A remote store's lease was taken over: this process stops instead of overwriting the
    new holder's files."""


class RemoteStoreError(CheckpointError):
    """A remote store's endpoint refused or failed a request (after retries)."""


class NotInStepError(CheckpointError, RuntimeError):
    """``current_step()`` was called outside a running workflow step."""


class StoreWriteError(CheckpointError):
    """The store could not write a file: disk full, read-only file system, a store path that
    is not a directory, no permission. The message names the path and the errno; nothing
    already written is lost (every write is atomic), and ``--resume`` continues once the cause
    is fixed."""

    #: The ``errno`` of the failed system call (``errno.ENOSPC``...), when one is known.
    errno: int | None

    def __init__(
        self,
        message: str,
        *,
        run_id: str | None = None,
        path: Path | None = None,
        errno: int | None = None,
    ) -> None:
        super().__init__(message, run_id=run_id, path=path)
        self.errno = errno


class UntrustedStoreError(CheckpointError):
    """A store file or directory another local user could have planted or changed: owned by
    someone else, or writable by group or others. Refused like ssh's ``StrictModes``."""
