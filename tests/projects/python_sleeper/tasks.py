"""first -> compute -> last; each appends its name to log.txt.

``compute`` is pure Python (no child process): with $SLOW set it creates ``started`` and
sleeps 30 s.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from invoke import Collection, Context, task

from invoke_checkpoints import workflow


def _log(name: str) -> None:
    with Path("log.txt").open("a") as f:
        f.write(name + "\n")


@task
def first(c: Context) -> None:
    _log("first")


@task
def compute(c: Context) -> None:
    _log("compute")
    if os.environ.get("SLOW"):
        Path("started").touch()
        time.sleep(30)


@task
def last(c: Context) -> None:
    _log("last")


ns = Collection(first, compute, last)
ns.add_collection(workflow(first, compute, last))
