"""The crash matrix's workflow: 20 steps s00 .. s19.

Every step appends ``begin <step> <pid>`` to effects.log (or to $EFFECTS_LOG: one log shared by
two "machines"), sleeps STEP_SLEEP, then appends ``end <step> <pid>`` (each line with one
``write`` on an O_APPEND descriptor).
"""

from __future__ import annotations

import os
import time
from typing import Any

from invoke import Collection, Context, Task, task

from invoke_checkpoints import workflow

STEP_SLEEP = 0.003


def _log(text: str) -> None:
    fd = os.open(
        os.environ.get("EFFECTS_LOG", "effects.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600
    )
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def make(number: int) -> Task[Any]:
    def step(c: Context) -> None:
        _log(f"begin {number} {os.getpid()}\n")
        time.sleep(STEP_SLEEP)
        _log(f"end {number} {os.getpid()}\n")

    made: Task[Any] = task(name=f"s{number:02d}")(step)
    return made


steps = [make(n) for n in range(20)]
ns = Collection(*steps)
ns.add_collection(workflow(*steps))
