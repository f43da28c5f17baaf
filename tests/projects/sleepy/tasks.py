"""Three steps, first -> slow -> last; each appends its name to log.txt.

``slow`` blocks when $SLOW is set: its child (Python, exec'd in place of the shell) writes its
pid to child.pid, creates ``started`` and sleeps 30 s. With $HOLD set, ``slow`` itself writes
its pid to ``started`` and waits (up to 60 s) for a file ``release``. A second workflow,
``release``, has steps first and last.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from invoke import Collection, Context, task

from invoke_checkpoints import workflow

# The child says it is ready itself, once it is the program that gets the signal (a shell
# can drop a signal that reaches it just before `exec`); SIGINT kills it without traceback.
SLEEP_CHILD = (
    f'exec "{sys.executable}" -c "'
    + "; ".join(
        [
            "import os, signal, time",
            "signal.signal(signal.SIGINT, signal.SIG_DFL)",
            "open('child.pid', 'w').write(str(os.getpid()) + chr(10))",
            "open('started', 'w').close()",
            "time.sleep(30)",
        ]
    )
    + '"'
)


@task
def first(c: Context) -> None:
    c.run("echo first >> log.txt")


@task
def slow(c: Context) -> None:
    c.run("echo slow >> log.txt")
    if os.environ.get("SLOW"):
        c.run(SLEEP_CHILD)
    if os.environ.get("HOLD"):
        Path("started").write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while not Path("release").exists() and time.monotonic() < deadline:
            time.sleep(0.02)


@task
def last(c: Context) -> None:
    c.run("echo last >> log.txt")


ns = Collection(first, slow, last)
ns.add_collection(workflow(first, slow, last))
ns.add_collection(workflow(first, last, name="release"))
