"""ok -> bad -> after; ok and after append their names to log.txt.

``bad`` fails as $BAD says: ``invoke-exit`` raises ``Exit("giving up", 7)``,
``python-exception`` raises ValueError; anything else is a shell command for ``c.run``.
"""

from __future__ import annotations

import os

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from invoke_checkpoints import workflow


@task
def ok(c: Context) -> None:
    c.run("echo ok >> log.txt")


@task
def bad(c: Context) -> None:
    how = os.environ["BAD"]
    if how == "invoke-exit":
        raise Exit("giving up", 7)
    if how == "python-exception":
        raise ValueError("bug in the task")
    c.run(how)


@task
def after(c: Context) -> None:
    c.run("echo after >> log.txt")


ns = Collection(ok, bad, after)
ns.add_collection(workflow(ok, bad, after))
