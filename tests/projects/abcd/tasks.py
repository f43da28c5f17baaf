"""Four steps a -> b -> c -> d; each appends its name to log.txt and exits 3 while a file
``fail-<name>`` exists."""

from __future__ import annotations

import os
from typing import Any

from invoke import Collection, Context, Task, task
from invoke.exceptions import Exit

from invoke_checkpoints import workflow


def make(name: str) -> Task[Any]:
    def step(c: Context) -> None:
        with open("log.txt", "a") as f:
            f.write(name + "\n")
        if os.path.exists("fail-" + name):
            raise Exit(name + " failed", 3)

    made: Task[Any] = task(name=name)(step)
    return made


steps = [make(n) for n in "abcd"]
ns = Collection(*steps)
ns.add_collection(workflow(*steps))
