"""A parallel group: lint -> [unit, integration, docs] -> release; steps log their names.

``unit`` prints a line and runs a shell line (to check output prefixes) and touches
``unit.started``; ``integration`` touches ``integration.started``. With $WAIT set, both run a
shell that writes its pid to ``<name>.pid`` and execs ``sleep 30``. With $FAIL set,
``integration`` exits 5. With $SLOW_REGISTER set, unit's ``sleep 30`` child runs 2 s before
its runner returns from Invoke's ``start()`` and registers: a worker thread descheduled there
under load.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from invoke import Collection, Context, task
from invoke.runners import Local

from invoke_checkpoints import workflow


def mark(name: str) -> None:
    with open("log.txt", "a") as f:
        f.write(name + "\n")


@task
def lint(c: Context) -> None:
    mark("lint")


@task
def unit(c: Context) -> None:
    print("unit says hello")
    c.run("echo unit-shell-line")
    Path("unit.started").touch()
    if os.environ.get("WAIT"):
        c.run("echo $$ > unit.pid; exec sleep 30")
    mark("unit")


@task
def integration(c: Context) -> None:
    Path("integration.started").touch()
    if os.environ.get("WAIT"):
        c.run("echo $$ > integration.pid; exec sleep 30")
    if os.environ.get("FAIL"):
        c.run("exit 5")
    mark("integration")


@task
def docs(c: Context) -> None:
    mark("docs")


@task
def release(c: Context) -> None:
    mark("release")


ns = Collection(lint, unit, integration, docs, release)
ns.add_collection(workflow(lint, [unit, integration, docs], release))


if os.environ.get("SLOW_REGISTER"):
    _start = Local.start

    def _late_start(self: Local, command: str, shell: str, env: dict[str, str]) -> None:
        _start(self, command, shell, env)
        if "unit.pid" in command:
            time.sleep(2)

    Local.start = _late_start  # type: ignore[method-assign]
