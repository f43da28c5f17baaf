"""A small project's tasks.py made resumable: lint, test, docs, build, release.

Plain Invoke first (``invoke lint``, ``invoke test``, ``invoke docs.build`` all work as
before); the last lines add ``invoke pipeline``, a checkpointed workflow of the same tasks.
See README.md for the walkthrough. ``FAIL_RELEASE=1`` makes the upload fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import docs_tasks
from invoke import Collection, Context, task
from invoke.exceptions import Exit

from invoke_checkpoints import Step, workflow

PY = sys.executable
ROOT = Path(__file__).resolve().parent


@task
def clean(c: Context) -> None:
    """Remove build output."""
    c.run(f"rm -rf {ROOT}/dist")  # through c.run: `invoke --dry` only echoes it
    print("cleaned dist/")


@task(pre=[clean])
def lint(c: Context, strict: bool = False) -> None:
    """Byte-compile every module (--strict: warnings are errors)."""
    flags = "-W error " if strict else ""
    c.run(f"{PY} {flags}-m compileall -q src tests")


@task
def coverage_report(c: Context) -> None:
    """Say where the test report is (a post task of ``test``)."""
    print("test report: build/test-report.txt")


@task(pre=[clean], post=[coverage_report])
def test(c: Context) -> None:
    """Run the unit tests."""
    Path("build").mkdir(exist_ok=True)
    c.run(f"{PY} -m unittest discover -s tests -q 2> build/test-report.txt")


@task
def build(c: Context) -> None:
    """Zip the package into dist/."""
    os.makedirs("dist", exist_ok=True)
    os.chdir("dist")  # steps after this one still start in the project directory
    c.run(f"{PY} -m zipfile -c greet.zip ../src/greet")
    print("built dist/greet.zip")


@task(pre=[build])
def release(c: Context) -> None:
    """Upload dist/greet.zip (here: copy it to published/)."""
    if os.environ.get("FAIL_RELEASE"):
        raise Exit("upload failed: server said 503", 1)
    # Absolute paths: its pre task (build) changed directory, as in `invoke release`.
    c.run(f"mkdir -p {ROOT}/published && cp {ROOT}/dist/greet.zip {ROOT}/published/")
    print("released published/greet.zip")


ns = Collection(clean, lint, coverage_report, test, build, release, docs_tasks.ns)
ns.add_collection(
    workflow(
        Step(lint, args={"strict": True}),
        Step(test, inputs=["src/**", "tests/**"]),
        docs_tasks.ns["build"],
        build,
        release,
        name="pipeline",
    )
)
