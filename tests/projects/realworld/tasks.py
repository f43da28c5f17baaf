"""A tasks.py like real projects have: pre/post chains, a ``docs`` sub-collection with its own
config, a task that changes directory and sets an environment variable, a step with CLI-style
args, and a step that starts threads.

Every task appends one line to ``log.txt`` in the project root. Environment:
``FAIL=<task>`` makes that task fail with exit 3; ``INVOKE_DRY_CMD=1`` makes ``lint`` also
run a shell command (to see ``invoke --dry`` echo it).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from invoke_checkpoints import Step, current_step, workflow

ROOT = Path(__file__).resolve().parent


def log(line: str) -> None:
    with open(ROOT / "log.txt", "a") as f:
        f.write(line + "\n")


def here() -> str:
    """``root`` in the project root, else the directory's name."""
    return "root" if Path.cwd() == ROOT else Path.cwd().name


def maybe_fail(name: str) -> None:
    if os.environ.get("FAIL") == name:
        raise Exit(f"{name} failed", 3)


@task
def clean(c: Context) -> None:
    log("clean")


@task
def unit(c: Context) -> None:
    log("unit")


@task
def coverage(c: Context) -> None:
    log("coverage")


@task(pre=[clean])
def lint(c: Context, with_mypy: bool = False) -> None:
    log(f"lint with_mypy={with_mypy}")
    if os.environ.get("INVOKE_DRY_CMD"):
        c.run("echo linting > lint-ran.txt")
    maybe_fail("lint")


@task(pre=[clean, unit], post=[coverage])
def test(c: Context) -> None:
    def where(_: int) -> str:
        return current_step().name

    with ThreadPoolExecutor(max_workers=2) as pool:
        names = sorted(set(pool.map(where, range(4))))
    log(f"test cwd={here()} threads={','.join(names)}")
    maybe_fail("test")


@task
def build_docs(c: Context) -> None:
    log(f"build_docs cwd={here()}")


@task
def package(c: Context) -> None:
    (ROOT / "dist").mkdir(exist_ok=True)
    os.chdir(ROOT / "dist")
    os.environ["PACKAGE_STAGE"] = "built"
    log(f"package cwd={here()}")
    maybe_fail("package")


@task
def release(c: Context) -> None:
    log(f"release cwd={here()} stage={os.environ.get('PACKAGE_STAGE', '-')}")
    maybe_fail("release")


@task(name="build")
def sphinx_build(c: Context) -> None:
    # A sub-collection's config: present with `invoke docs.build` and inside the workflow.
    log(f"docs.build target={c.config.sphinx.target}")
    maybe_fail("docs.build")


docs = Collection("docs")
docs.add_task(sphinx_build)
docs.configure({"sphinx": {"target": "_build/html"}})

ns = Collection(clean, unit, coverage, lint, test, build_docs, package, release, docs)
ns.add_collection(
    workflow(
        Step(lint, args={"with-mypy": True}),
        Step(test, inputs=["src/**"]),
        build_docs,
        docs["build"],
        package,
        release,
    )
)
