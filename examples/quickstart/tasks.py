"""Quick start: a three-step pipeline whose middle step fails once, then is resumed.

Run the whole demonstration with ``invoke demo`` (from this directory), or drive it yourself
(README.md shows what each prints; tests/test_docs.py runs it):

    invoke pipeline            # fetch, transform (fails the first time), publish
    invoke pipeline.status     # where the run stands
    invoke pipeline --resume   # continues at transform; fetch does not run again
    invoke pipeline.report     # a timeline of the run, as one HTML file (prints its path)
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from invoke import Collection, Context, task

from invoke_checkpoints import current_step, workflow

WORK = Path(os.environ.get("QUICKSTART_WORK", Path(__file__).parent / "build"))


@task
def fetch(c: Context) -> dict[str, int]:
    """Pretend to download data (slow: you would not want to redo this)."""
    WORK.mkdir(parents=True, exist_ok=True)
    c.run(f"echo 'alpha beta gamma' > {WORK / 'raw.txt'}")
    current_step().outputs["bytes"] = (WORK / "raw.txt").stat().st_size
    return {"records": 3}


@task
def transform(c: Context) -> None:
    """Fail the first time (a flaky network, say), succeed when resumed."""
    flag = WORK / "transform-failed-once"
    if not flag.exists():
        flag.touch()
        print("transform: upstream service unavailable (this fails once on purpose)")
        c.run("exit 3")
    records = current_step().run.outputs_of("fetch")["result"]["records"]
    c.run(f"tr a-z A-Z < {WORK / 'raw.txt'} > {WORK / 'clean.txt'}")
    print(f"transform: {records} records cleaned")


@task
def publish(c: Context) -> None:
    """Publish the result."""
    c.run(f"cat {WORK / 'clean.txt'}")


@task
def demo(c: Context) -> None:
    """Run the pipeline, watch it fail, look at its status, resume it, write its report."""
    scratch = tempfile.mkdtemp(prefix="invoke-checkpoints-quickstart-")
    env = {"QUICKSTART_WORK": scratch, "INVOKE_CHECKPOINTS_DIR": f"{scratch}/.checkpoints"}
    invoke = f"{sys.executable} -m invoke --search-root {Path(__file__).parent}"
    for title, command, warn in [
        ("1. run the workflow: transform fails", "pipeline", True),
        ("2. where does the run stand?", "pipeline.status", False),
        ("3. resume: fetch is not run again", "pipeline --resume", False),
        ("4. the run is complete", "pipeline.status", False),
    ]:
        print(f"\n$ invoke {command}      # {title}", flush=True)
        c.run(f"{invoke} {command}", env=env, warn=warn)
    print("\n$ invoke pipeline.report      # 5. its timeline, one HTML file", flush=True)
    report = c.run(f"{invoke} pipeline.report", env=env, hide="out").stdout.strip()
    print(f"Checkpoints of this demo are in {scratch}/.checkpoints")
    print(f"Report (open it in a browser): {report}")


ns = Collection(fetch, transform, publish, demo)
ns.add_collection(workflow(fetch, transform, publish, name="pipeline"))
