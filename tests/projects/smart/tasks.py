"""Smart execution: ``build`` declares inputs (src/**/*.py) and args; ``always`` declares none.

Each appends ``<name>-ran`` to log.txt. $FLAVOUR (default ``plain``) is build's argument.
"""

from __future__ import annotations

import os

from invoke import Collection, Context, task

from invoke_checkpoints import Step, workflow


@task
def build(c: Context, flavour: str = "plain") -> None:
    c.run("echo build-ran >> log.txt")


@task
def always(c: Context) -> None:
    c.run("echo always-ran >> log.txt")


FLAVOUR = os.environ.get("FLAVOUR", "plain")
ns = Collection(build, always)
ns.add_collection(
    workflow(
        Step(build, args={"flavour": FLAVOUR}, inputs=["src/**/*.py"]),
        always,
    )
)
