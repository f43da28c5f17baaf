"""Two steps, first -> second; ``second`` has a pre task (setup) and a post task (teardown).

Each appends ``<label>:<step number>:<does the step's marker exist>`` to log.txt; teardown
fails with exit 4 when $FAIL_POST is set.
"""

from __future__ import annotations

import os

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from invoke_checkpoints import current_step, workflow


def note(label: str) -> None:
    step = current_step()
    assert step.run.path is not None
    marker = step.run.path / f"step_{step.number:02d}.complete"
    with open("log.txt", "a") as f:
        f.write(f"{label}:{step.number}:{marker.exists()}\n")


@task
def setup(c: Context) -> None:
    note("setup")


@task
def teardown(c: Context) -> None:
    note("teardown")
    if os.environ.get("FAIL_POST"):
        raise Exit("post task failed", 4)


@task
def first(c: Context) -> None:
    note("first")


@task(pre=[setup], post=[teardown])
def second(c: Context) -> None:
    note("second")


ns = Collection(first, second, setup, teardown)
ns.add_collection(workflow(first, second))
