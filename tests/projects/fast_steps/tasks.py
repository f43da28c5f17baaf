"""Three pure-Python steps (fast), lint -> test -> docs; each appends its name to log.txt.

``test`` fails with exit 3 while a file ``fail`` exists.
"""

from __future__ import annotations

import os

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from invoke_checkpoints import workflow


def _log(name: str) -> None:
    with open("log.txt", "a") as f:
        f.write(name + "\n")


@task
def lint(c: Context) -> None:
    _log("lint")


@task
def test(c: Context) -> None:
    _log("test")
    if os.path.exists("fail"):
        raise Exit("test failed", 3)


@task
def docs(c: Context) -> None:
    _log("docs")


ns = Collection(lint, test, docs)
ns.add_collection(workflow(lint, test, docs))
