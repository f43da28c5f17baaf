"""Checkpointed, resumable Invoke workflows: the public API.

``ns.add_collection(workflow(lint, test, docs))`` gives ``invoke workflow``, ``invoke workflow
--resume`` and ``invoke workflow.status``. Everything a tasks.py or a plugin needs is importable
from here; the layers below (``store``, ``run``, ``cli``, ``plugins``) are internal.

Plugin authors find here every type a hook receives (``RunInfo``, ``StepInfo``, ``StepState``
and its ``StepStatus``, ``RunOptions``, the ``Terminated`` / ``HookInterrupted`` errors), so
``mypy --strict`` on a plugin needs no private import; ``invoke_checkpoints.testing`` tests one.

Importing this package stays cheap: pluggy loads only when a workflow command runs with a
plugin that is not built in (or ``--debug``), pydantic only when a command needs the format's
models (repair, import, a file the fast readers do not accept); never for a healthy run, resume
or status.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cli.collection import workflow
from .errors import (
    CheckpointError,
    CorruptCheckpointError,
    IncompatibleRunError,
    InvalidRunIdError,
    LockHeldError,
    NotInStepError,
    StoreWriteError,
    UnknownRunError,
    UnknownStepError,
    UntrustedStoreError,
)
from .run.definition import Step

if TYPE_CHECKING:
    # Only modules that do not reach pydantic: a project's mypy checking its tasks.py follows
    # these imports (tests/test_realworld.py checks it).
    from .plugins.markers import hookimpl, hookspec
    from .run.context import HookInterrupted, RunInfo, RunOptions, StepInfo
    from .run.signals import Terminated
    from .store.records import StepState
    from .store.vocabulary import StepStatus

    __version__: str

__all__ = [
    "CheckpointError",
    "CorruptCheckpointError",
    "HookInterrupted",
    "IncompatibleRunError",
    "InvalidRunIdError",
    "LockHeldError",
    "NotInStepError",
    "RunInfo",
    "RunOptions",
    "Step",
    "StepInfo",
    "StepState",
    "StepStatus",
    "StoreWriteError",
    "Terminated",
    "UnknownRunError",
    "UnknownStepError",
    "UntrustedStoreError",
    "__version__",
    "current_step",
    "hookimpl",
    "hookspec",
    "workflow",
]


def current_step() -> StepInfo:
    """The step executing right now, from inside a task run by a workflow."""
    from .run.context import current_step as _current_step

    return _current_step()


# Loaded on first use: tasks.py is imported for every Invoke command, and pluggy, the
# dataclasses of the run context and importlib.metadata are not needed to define a workflow.
_LAZY = {
    "hookimpl": "plugins.markers",
    "hookspec": "plugins.markers",
    "HookInterrupted": "run.context",
    "RunInfo": "run.context",
    "RunOptions": "run.context",
    "StepInfo": "run.context",
    "StepState": "store.records",
    "StepStatus": "store.vocabulary",
    "Terminated": "run.signals",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name == "__version__":
        from importlib.metadata import version

        return version("invoke-checkpoints")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
