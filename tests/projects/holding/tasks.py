"""hold -> work -> done; every step appends ``<step> <pid>`` to log.txt.

``hold`` touches ``started-<pid>`` and waits (up to 60 s) for a file ``release``. Importing
this module writes ``imported-<pid>`` (seconds since the epoch), so a refusal can be timed
from inside the refused process, whatever its start-up cost.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from invoke import Collection, Context, task

from invoke_checkpoints import workflow


def _log(name: str) -> None:
    fd = os.open("log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, f"{name} {os.getpid()}\n".encode())
    os.close(fd)


@task
def hold(c: Context) -> None:
    _log("hold")
    Path(f"started-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while not Path("release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


@task
def work(c: Context) -> None:
    _log("work")


@task
def done(c: Context) -> None:
    _log("done")


ns = Collection(hold, work, done)
ns.add_collection(workflow(hold, work, done))
Path(f"imported-{os.getpid()}").write_text(repr(time.time()))
