"""Built-in plugin ``environment``: describes the world a run executes in."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from typing import TYPE_CHECKING, Any

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from ..run.context import RunInfo


@hookimpl
def checkpoints_environment(run: RunInfo) -> dict[str, Any]:
    """Python, Invoke, platform, shell and git availability (top level of ``environment``)."""
    import invoke

    shell = os.environ.get("SHELL", "")
    return {
        "python_version": platform.python_version(),
        "python_executable": sys.executable,
        "invoke_version": invoke.__version__,
        "platform": platform.platform(),
        "shell": os.path.basename(shell) if shell else None,
        "git_available": shutil.which("git") is not None,
    }
