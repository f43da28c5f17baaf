"""Three steps, make -> use -> report, that exercise every part of current_step().

Each step appends what it sees, as one JSON line, to seen.jsonl. ``use`` exits 5 when $FAIL
is set (after recording outputs, a warning and a var).
"""

from __future__ import annotations

import json
import os
from typing import Any

from invoke import Collection, Context, task

import invoke_checkpoints
from invoke_checkpoints import current_step


def seen(**values: Any) -> None:
    with open("seen.jsonl", "a") as f:
        f.write(json.dumps(values) + "\n")


@task
def make(c: Context) -> dict[str, str]:
    step = current_step()
    run = step.run
    seen(step=step.number, name=step.name, id=run.workflow_id, path=str(run.path))
    step.outputs["rows"] = 1200
    step.outputs["files"] = ["a.txt", "b.txt"]
    step.warn("3 rows dropped")
    run.vars["token_id"] = 7
    return {"path": "data.csv"}


@task
def use(c: Context) -> None:
    step = current_step()
    run = step.run
    seen(
        step=step.number,
        name=step.name,
        id=run.workflow_id,
        by_name=run.outputs_of("make"),
        by_number=run.outputs_of(0),
        vars=dict(run.vars),
    )
    run.vars["attempt"] = run.vars.get("attempt", 0) + 1
    step.outputs["before_failure"] = True
    step.warn("about to check")
    if os.environ.get("FAIL"):
        c.run("exit 5")


@task
def report(c: Context) -> object:
    step = current_step()
    seen(step=step.number, vars=dict(step.run.vars), use=step.run.outputs_of("use"))
    return object()  # not JSON: not saved as a result


ns = Collection(make, use, report)
ns.add_collection(invoke_checkpoints.workflow(make, use, report))
