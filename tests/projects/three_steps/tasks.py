"""Three steps, lint -> test -> docs; each appends ``<name>-ran`` to log.txt.

``test`` fails with exit code $FAIL_CODE (default 3) when $FAIL is set. With
$RELEASE_WORKFLOW set, a second workflow ``release`` runs docs then lint.
"""

from __future__ import annotations

import os

from invoke import Collection, Context, task

from invoke_checkpoints import current_step, workflow


@task
def lint(c: Context) -> None:
    c.run("echo lint-ran >> log.txt")
    current_step().outputs["checked"] = 3


@task
def test(c: Context) -> None:
    c.run("echo test-ran >> log.txt")
    if os.environ.get("FAIL"):
        c.run("exit " + os.environ.get("FAIL_CODE", "3"))


@task
def docs(c: Context) -> dict[str, int]:
    c.run("echo docs-ran >> log.txt")
    return {"pages": 2}


ns = Collection(lint, test, docs)
ns.add_collection(workflow(lint, test, docs))
if os.environ.get("RELEASE_WORKFLOW"):
    ns.add_collection(workflow(docs, lint, name="release"))
