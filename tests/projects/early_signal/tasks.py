"""One step whose c.run() is paused right before Invoke's wait loop (which forwards Ctrl-C).

$PAUSE_IN names the ``Runner`` method to delay: it creates ``started`` and sleeps 5 s before
going on, so a signal sent then lands before Invoke waits on the child. The child (Python,
exec'd in place of the shell) writes its pid and a newline to child.pid and sleeps 30 s.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from invoke import Collection, Context, task
from invoke.runners import Runner

from invoke_checkpoints import workflow

SLEEP_CHILD = (
    f'exec "{sys.executable}" -c "'
    + "; ".join(
        [
            "import os, signal, time",
            "signal.signal(signal.SIGINT, signal.SIG_DFL)",
            "open('child.pid', 'w').write(str(os.getpid()) + chr(10))",
            "time.sleep(30)",
        ]
    )
    + '"'
)

name = os.environ["PAUSE_IN"]
original = getattr(Runner, name)


def paused(self: Runner, *args: Any, **kwargs: Any) -> Any:
    Path("started").touch()
    time.sleep(5)  # a signal sent now lands before Invoke waits on the child
    return original(self, *args, **kwargs)


setattr(Runner, name, paused)


@task
def slow(c: Context) -> None:
    c.run(SLEEP_CHILD)


ns = Collection(slow)
ns.add_collection(workflow(slow))
