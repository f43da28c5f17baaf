"""first -> middle -> last; every step appends ``<step> <pid>`` to log.txt (of its machine).

``middle`` does what $MIDDLE says: ``fail`` exits 3; ``hold`` touches ``started-<pid>`` and
waits (up to 60 s) for a file ``release``; anything else (or unset) just logs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from invoke_checkpoints import workflow


def _log(name: str) -> None:
    fd = os.open("log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, f"{name} {os.getpid()}\n".encode())
    os.close(fd)


@task
def first(c: Context) -> None:
    _log("first")


@task
def middle(c: Context) -> None:
    _log("middle")
    how = os.environ.get("MIDDLE", "")
    if how == "fail":
        raise Exit("middle failed", 3)
    if how == "hold":
        Path(f"started-{os.getpid()}").touch()
        deadline = time.monotonic() + 60
        while not Path("release").exists() and time.monotonic() < deadline:
            time.sleep(0.02)


@task
def last(c: Context) -> None:
    _log("last")


ns = Collection(first, middle, last)
ns.add_collection(workflow(first, middle, last))
