"""The report's example run: prepare -> [docs, wheel] (a parallel group), 3 steps.

``prepare`` takes 0.3 s, ``docs`` 0.9 s; ``wheel`` fails after 0.2 s (exit 4, with a line on
stderr) the first time (no ``wheel-failed-once`` file yet), then takes 0.45 s once resumed.
With $NAME set, ``docs`` is named $NAME (to show special characters in a report); with
$DOCS_SECONDS set, ``docs`` takes that long (a step that got slower).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from invoke import Collection, Context, task

from invoke_checkpoints import Step, workflow


@task
def prepare(c: Context) -> None:
    time.sleep(0.3)


@task
def docs(c: Context) -> None:
    time.sleep(float(os.environ.get("DOCS_SECONDS") or 0.9))


@task
def wheel(c: Context) -> None:
    flag = Path("wheel-failed-once")
    if not flag.exists():
        flag.touch()
        time.sleep(0.2)
        c.run("echo 'wheel: <compiler> & linker broke' >&2; exit 4", hide=True)
    time.sleep(0.45)


ns = Collection(prepare, docs, wheel)
ns.add_collection(
    workflow(
        prepare,
        [Step(docs, name=os.environ.get("NAME") or "docs"), wheel],
        name="release",
        parallel=True,
    )
)
