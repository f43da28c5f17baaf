"""The project's own chores, run as a checkpointed workflow (we use what we sell).

``invoke check`` runs lint -> typecheck -> test with a checkpoint around each;
``invoke check --resume`` continues where a failed run stopped; ``invoke test`` (or any other
chore) still runs on its own. CI (``.ci/run``) runs ``invoke check --no-smart``.
"""

from __future__ import annotations

import sys

from invoke import Collection, Context, task

from invoke_checkpoints import workflow

PY = sys.executable


@task
def lint(c: Context) -> None:
    """ruff: lint and format check."""
    c.run(f"{PY} -m ruff check .")
    c.run(f"{PY} -m ruff format --check .")


@task
def typecheck(c: Context) -> None:
    """mypy --strict over the package, tests, bench and tasks.py."""
    c.run(f"{PY} -m mypy")


@task
def test(c: Context) -> None:
    """The test suite: the README's test command, ``python3 -m pytest``, with this interpreter.

    ``.ci/run`` checks that the two agree; change them together.
    """
    c.run(f"{PY} -m pytest")


@task
def schemas(c: Context) -> None:
    """Regenerate the JSON Schemas of the on-disk format into invoke_checkpoints/store/schemas/."""
    c.run(f"{PY} -m invoke_checkpoints.store.schemas")


@task(help={"smoke": "seconds-long correctness run instead of the full measurement"})
def bench(c: Context, smoke: bool = False) -> None:
    """Run the benchmark harness (bench/run.py); prints a table and writes JSON."""
    c.run(f"{PY} bench/run.py" + (" --smoke" if smoke else ""))


@task(help={"kills": "how many SIGKILLs the crash matrix deals out"})
def reliability(c: Context, kills: int = 1000) -> None:
    """Long crash matrix + fuzzing; writes docs/reliability.md."""
    c.run(f"{PY} tests/reliability/harness.py --kills={kills} --report docs/reliability.md")


ns = Collection(lint, typecheck, test, schemas, bench, reliability)
ns.add_collection(workflow(lint, typecheck, test, name="check"))
