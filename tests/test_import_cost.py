"""Defining a workflow (what importing tasks.py does) must not import the heavy dependencies,
and running one (fresh, failed, resumed) or showing its status must not import pydantic."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import Outcome, Project

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


# -- a healthy run, its resume and its status never import pydantic ---------------------------


def _imported(project: Project, *argv: str) -> tuple[Outcome, set[str]]:
    """Run the real ``invoke argv`` with ``-X importtime``: its outcome and every module it
    imported (the import lines are taken out of its stderr)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "invoke", *argv],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    modules, err = set(), []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:"):
            modules.add(line.rpartition("|")[2].strip())
        else:
            err.append(line)
    return Outcome(proc.returncode, proc.stdout, "\n".join(err)), modules


def _no_pydantic(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core"))


def test_a_run_its_resume_and_status_never_import_pydantic(project: Project) -> None:
    """pydantic (the models) judges only files the fast readers refuse: a fresh run, a failed
    one, its ``--resume`` (which reads the failed step's state) and ``status`` go without it."""
    project.use("fast_steps")
    done, modules = _imported(project, "workflow")
    assert done.code == 0, done.err
    assert "invoke_checkpoints.run.engine" in modules  # it did run the workflow
    assert _no_pydantic(modules) == []
    (project.root / "fail").touch()
    failed, modules = _imported(project, "workflow")
    assert failed.code == 3, failed.err
    assert _no_pydantic(modules) == []
    (project.root / "fail").unlink()
    resumed, modules = _imported(project, "workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert _no_pydantic(modules) == []
    state = project.state(project.runs()[-1], 1)
    assert state["status"] == "completed"
    assert [a["status"] for a in state["previous_attempts"]] == ["failed"]
    for argv in (("workflow.status",), ("workflow.status", "--json")):
        status, modules = _imported(project, *argv)
        assert status.code == 0, status.err
        assert _no_pydantic(modules) == []
