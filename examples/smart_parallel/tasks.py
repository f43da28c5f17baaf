"""Smart skipping and a parallel group, runnable from this directory.

- ``invoke ci --explain --parallel``: why each step runs or is skipped, then run, with unit,
  integration and docs at the same time;
- ``invoke ci --dry-run`` again: build would be skipped (no_relevant_changes);
- ``touch src/app.py && invoke ci --dry-run``: still skipped (the content is unchanged);
- ``echo '# more' >> src/app.py && invoke ci --dry-run``: now build would run (input files
  changed).

docs/smart-and-parallel.md shows what each prints; tests/test_docs.py runs it.
"""

from __future__ import annotations

from invoke import Collection, Context, task

from invoke_checkpoints import Step, workflow


@task
def build(c: Context, mode: str = "debug") -> None:
    """Compile (here: count lines) the sources under src/."""
    c.run(f"cat src/*.py | wc -l > build-{mode}.txt")


@task
def unit(c: Context) -> None:
    """Unit tests (slow)."""
    c.run("sleep 1; echo unit tests passed")


@task
def integration(c: Context) -> None:
    """Integration tests (slow)."""
    c.run("sleep 1; echo integration tests passed")


@task
def docs(c: Context) -> None:
    """Documentation (slow)."""
    c.run("sleep 1; echo docs built")


@task
def package(c: Context) -> None:
    """Package the build."""
    c.run("echo packaged")


ns = Collection(build, unit, integration, docs, package)
ns.add_collection(
    workflow(
        Step(build, args={"mode": "release"}, inputs=["src/**/*.py"]),
        [unit, integration, docs],  # a parallel group: concurrent with --parallel
        package,
        name="ci",
    )
)
