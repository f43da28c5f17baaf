"""Defining a workflow (what importing tasks.py does) must not import the heavy dependencies."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "pydantic",
    "filelock",
    "pluggy",
    "invoke_checkpoints.store.models",
    "invoke_checkpoints.run.engine",
)

DEFINE = """
import sys
from invoke import Collection, task
from invoke_checkpoints import Step, current_step, workflow

@task
def a(c):
    pass

@task
def b(c):
    pass

ns = Collection(a, b)
ns.add_collection(workflow(a, [Step(b, inputs=["*.py"])], name="wf"))
print(",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("module", HEAVY)
def test_defining_a_workflow_imports_nothing_heavy(module: str) -> None:
    """`workflow(...)` in tasks.py leaves pydantic, filelock, pluggy and the engine unloaded."""
    code = DEFINE.format(heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert module not in out.split(","), f"{module} imported at definition time"


def test_hookimpl_is_still_importable_lazily() -> None:
    """`from invoke_checkpoints import hookimpl` works and is pluggy's marker."""
    code = "from invoke_checkpoints import hookimpl; print(type(hookimpl).__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "HookimplMarker"
