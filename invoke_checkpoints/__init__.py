"""Checkpointed, resumable Invoke workflows.

``ns.add_collection(workflow(lint, test, docs))`` gives ``invoke workflow``, ``invoke workflow
--resume`` and ``invoke workflow.status``. Importing this package stays cheap: pydantic and
filelock load only when a workflow command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .collection import workflow
from .errors import (
    CheckpointError,
    CorruptCheckpointError,
    IncompatibleRunError,
    InvalidRunIdError,
    LockHeldError,
    NotInStepError,
    UnknownRunError,
    UnknownStepError,
)
from .steps import Step

if TYPE_CHECKING:
    from .context import RunInfo, StepInfo
    from .hookspecs import hookimpl, hookspec

    __version__: str

__all__ = [
    "CheckpointError",
    "CorruptCheckpointError",
    "IncompatibleRunError",
    "InvalidRunIdError",
    "LockHeldError",
    "NotInStepError",
    "RunInfo",
    "Step",
    "StepInfo",
    "UnknownRunError",
    "UnknownStepError",
    "__version__",
    "current_step",
    "hookimpl",
    "hookspec",
    "workflow",
]


def current_step() -> StepInfo:
    """The step executing right now, from inside a task run by a workflow."""
    from .context import current_step as _current_step

    return _current_step()


# Loaded on first use: tasks.py is imported for every Invoke command, and pluggy, the
# dataclasses of context.py and importlib.metadata are not needed to define a workflow.
_LAZY = {
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
    "RunInfo": "context",
    "StepInfo": "context",
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
