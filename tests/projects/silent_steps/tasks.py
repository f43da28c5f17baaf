"""Two silent steps (nothing but what a marker records), then one that fails under $FAIL.

fetch -> build -> ship; each appends ``<name>-ran`` to log.txt; ``ship`` exits 4 with $FAIL.
"""

from __future__ import annotations

import os

from invoke import Collection, Context, task

from invoke_checkpoints import workflow


@task
def fetch(c: Context) -> None:
    c.run("echo fetch-ran >> log.txt")


@task
def build(c: Context) -> None:
    c.run("echo build-ran >> log.txt")


@task
def ship(c: Context) -> None:
    c.run("echo ship-ran >> log.txt")
    if os.environ.get("FAIL"):
        c.run("exit 4")


ns = Collection(fetch, build, ship)
ns.add_collection(workflow(fetch, build, ship))
