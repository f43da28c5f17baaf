"""The pluggy markers ``hookimpl`` / ``hookspec`` and the project name, on their own.

A module of their own so that ``from invoke_checkpoints import hookimpl`` is typed without
making a type checker read the hook contract's imports (the run context, pydantic's models):
a project's mypy checking its tasks.py follows every import of ``invoke_checkpoints``.
"""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT", "hookimpl", "hookspec"]

#: The project name pluggy uses; also the entry-point group plugins are found under.
PROJECT = "invoke_checkpoints"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
