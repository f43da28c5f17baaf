"""Checkpointed, resumable Invoke workflows.

``ns.add_collection(workflow(lint, test, docs))`` gives ``invoke workflow``, ``invoke workflow
--resume`` and ``invoke workflow.status``. Importing this package stays cheap: pydantic and
filelock load only when a workflow command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .collection import workflow
from .context import RunInfo, StepInfo, current_step
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
from .hookspecs import hookimpl, hookspec
from .steps import Step

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # Computed on first use: importlib.metadata is not free and tasks.py rarely needs it.
    if name == "__version__":
        from importlib.metadata import version

        return version("invoke-checkpoints")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
