"""A parallel group [lint, test], then docs; a plugin's ``checkpoints_step_complete`` for lint
creates ``hook-started`` and sleeps 30 s.

The main thread is held up right after it hands lint to the group's thread pool
(``ThreadPoolExecutor.submit``, patched once, in the main thread only) until ``hook-started``
exists, for at most 2 s: as on a loaded machine that deschedules it there, lint ends and calls
its hooks before the main thread has gone on to wait for the group.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from invoke import Collection, Context, task

from invoke_checkpoints import hookimpl, workflow

original = ThreadPoolExecutor.submit


def held_up(self: ThreadPoolExecutor, *args: Any, **kwargs: Any) -> Any:
    future = original(self, *args, **kwargs)
    if threading.current_thread() is threading.main_thread():
        ThreadPoolExecutor.submit = original  # type: ignore[method-assign]  # undo the patch: once
        deadline = time.monotonic() + 2
        while not Path("hook-started").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return future


# The timing lever above; its signature is submit's, less precisely typed.
ThreadPoolExecutor.submit = held_up  # type: ignore[method-assign,assignment]


@task
def lint(c: Context) -> None:
    pass


@task
def test(c: Context) -> None:
    pass


@task
def docs(c: Context) -> None:
    pass


class Plugin:
    @hookimpl
    def checkpoints_step_complete(self, step: Any) -> None:
        if step.name == "lint":
            Path("hook-started").touch()
            time.sleep(30)


ns = Collection()
ns.add_collection(workflow([lint, test], docs, plugins=[Plugin()]))
