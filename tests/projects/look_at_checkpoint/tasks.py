"""Three steps, a -> b -> d, that each record in their outputs what checkpoint.json and the
run's markers say while they run. With ``SLOW_STEPS`` set each step first sleeps that long."""

from __future__ import annotations

import json
import os
import time

from invoke import Collection, Context, task

from invoke_checkpoints import current_step, workflow


def look(c: Context) -> None:
    time.sleep(float(os.environ.get("SLOW_STEPS", "0")))
    step = current_step()
    assert step.run.path is not None
    cp = json.loads((step.run.path / "checkpoint.json").read_text())
    markers = sorted(p.name for p in step.run.path.glob("step_*.complete"))
    step.outputs.update(
        completed=cp["completed_steps"],
        current=cp["current_step"],
        last=cp["last_checkpoint"],
        status=cp["status"],
        markers=markers,
    )


@task
def a(c: Context) -> None:
    look(c)


@task
def b(c: Context) -> None:
    look(c)


@task
def d(c: Context) -> None:
    look(c)


ns = Collection(a, b, d)
ns.add_collection(workflow(a, b, d))
