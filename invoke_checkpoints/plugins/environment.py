"""Built-in plugin ``environment``: describes the world a run executes in."""

from __future__ import annotations

import os
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
        "python_version": sys.version.split()[0],  # platform.python_version(), without platform
        "python_executable": sys.executable,
        "invoke_version": invoke.__version__,
        "platform": platform_name(),
        "shell": os.path.basename(shell) if shell else None,
        "git_available": shutil.which("git") is not None,
    }


def platform_name() -> str:
    """``platform.platform()``'s string, e.g. ``Linux-6.1.0-x86_64-with-glibc2.36``.

    On Linux, ``platform.platform()`` runs ``uname -p`` in a subprocess and reads the Python
    binary to find the C library: about 9 ms, before step 0 of every run. ``os.uname()`` and
    ``os.confstr`` give the same parts at once (the processor it reads is empty or the machine
    name on Linux, and then left out); anywhere else, ``platform.platform()`` itself.
    """
    uname = os.uname()
    try:
        libc = os.confstr("CS_GNU_LIBC_VERSION") if uname.sysname == "Linux" else None
    except (ValueError, OSError):
        libc = None
    if libc and libc.startswith("glibc "):
        parts = [uname.sysname, uname.release, uname.machine, "with", "glibc" + libc.split()[1]]
        return _cleaned("-".join(p.strip() for p in parts if p))
    import platform

    return platform.platform()


def _cleaned(text: str) -> str:
    """The clean-up ``platform.platform()`` applies to its string (its ``_platform``)."""
    text = text.replace(" ", "_")
    for char in '/\\:;"()':
        text = text.replace(char, "-")
    text = text.replace("unknown", "")
    while "--" in text:
        text = text.replace("--", "-")
    return text.rstrip("-")
