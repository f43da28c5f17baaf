"""Hooks cannot hurt a run: durations, Ctrl-C / SIGTERM during a hook, a hook raising
KeyboardInterrupt or SystemExit, strict mode on the last step, skip reasons, the plan."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from invoke_checkpoints.testing import WorkflowProject

from .conftest import Project, wait_for

HEADER = """
import os, sys, time
from pathlib import Path
from invoke import Collection, task
from invoke_checkpoints import Step, hookimpl, workflow

@task
def lint(c):
    time.sleep(float(os.environ.get("LINT_SECONDS", "0")))

@task
def test(c):
    time.sleep(float(os.environ.get("TEST_SECONDS", "0")))

@task
def docs(c):
    pass
"""


def write(project: WorkflowProject | Project, plugin: str, steps: str, config: str = "{}") -> None:
    project.write(
        HEADER
        + plugin
        + f"\nns = Collection()\nns.add_collection(workflow({steps}, plugins=[Plugin()]))\n"
        + f'ns.configure({{"checkpoints": {config}}})\n'
    )


SLOW_COMPLETE = """
class Plugin:
    @hookimpl
    def checkpoints_step_complete(self, step):
        if step.name == os.environ.get("SLOW_HOOK"):
            Path("hook-started").touch()
            time.sleep(float(os.environ.get("HOOK_SECONDS", "2")))
"""


def test_a_slow_hook_never_lengthens_another_steps_duration(
    workflow_project: WorkflowProject,
) -> None:
    """Parallel: lint's 2 s step_complete hook while test still runs; test's duration is its
    own 0.5 s, and lint's console line is printed before that hook ends."""
    write(workflow_project, SLOW_COMPLETE, "[lint, test]")
    env = {"SLOW_HOOK": "lint", "HOOK_SECONDS": "2", "TEST_SECONDS": "0.5"}
    result = workflow_project.run("workflow", "--parallel", env=env)
    assert result.code == 0, result.err
    assert result.states[0]["duration_seconds"] < 0.4
    assert 0.5 <= result.states[1]["duration_seconds"] < 1.2
    assert result.checkpoint is not None
    assert result.checkpoint["durations"]["test"] < 1.2


RAISING = """
class Plugin:
    @hookimpl
    def checkpoints_step_start(self, step):
        if step.name == "test":
            raise {error}
"""


@pytest.mark.parametrize(
    ("error", "text"),
    [
        ("KeyboardInterrupt()", "KeyboardInterrupt: raised by the hook itself"),
        ("SystemExit(3)", "SystemExit: 3"),
    ],
    ids=["KeyboardInterrupt", "SystemExit"],
)
def test_a_hook_raising_keyboard_interrupt_or_system_exit_is_an_ordinary_error(
    workflow_project: WorkflowProject, error: str, text: str
) -> None:
    """Reported in one line and recorded; the run completes with exit code 0."""
    write(workflow_project, RAISING.format(error=error), "lint, test, docs")
    result = workflow_project.run()
    assert result.code == 0, result.err
    line = f"plugin 'tasks.Plugin' failed in checkpoints_step_start: {text}"
    assert result.err.splitlines() == [f"invoke-checkpoints: {line}"]
    assert result.checkpoint is not None
    assert result.checkpoint["status"] == "completed"
    assert result.checkpoint["warnings"] == [line]


LAST_STEP = """
class Plugin:
    @hookimpl
    def checkpoints_step_complete(self, step):
        if step.name == "docs":
            raise RuntimeError("notify failed")
"""


def test_strict_failure_on_the_last_step_keeps_the_run_completed(
    workflow_project: WorkflowProject,
) -> None:
    """Every step has its marker: the run is recorded completed, the exit code is 1 and the
    strict message is printed once."""
    write(workflow_project, LAST_STEP, "lint, test, docs", '{"strict_plugins": True}')
    result = workflow_project.run()
    assert result.code == 1
    assert result.checkpoint is not None
    assert result.checkpoint["status"] == "completed"
    assert result.markers == [0, 1, 2]
    assert result.err.count("notify failed") == 2  # the report line, then the exit message
    assert result.err.count("checkpoints.strict_plugins is on") == 1


REASON = """
class Plugin:
    @hookimpl
    def checkpoints_should_skip_step(self, step):
        if step.name == "docs":
            return "line one\\n\\x1b[31mred\\x1b[0m\\tand\\x07 bell"
"""


def test_a_skip_reason_is_made_one_clean_line(workflow_project: WorkflowProject) -> None:
    """Newlines, escape codes and control characters never reach a table or the state file."""
    write(workflow_project, REASON, "lint, test, docs")
    result = workflow_project.run()
    assert result.code == 0, result.err
    clean = "line one red and bell"
    assert result.states[2]["reason"] == clean
    assert f"docs: skipped ({clean})" in result.out
    plan = workflow_project.run("workflow", "--dry-run")
    assert f"skip ({clean})" in plan.out


ORDER = """
class Plugin:
    @hookimpl
    def checkpoints_should_skip_step(self, step):
        return "policy says no" if step.name == "lint" else None
"""


def test_dry_run_shows_the_decision_the_run_records(workflow_project: WorkflowProject) -> None:
    """Smart would skip lint (unchanged input) but the workflow's plugin is asked first, in
    the run as in the plan: both say "policy says no"."""
    steps = "Step(lint, inputs=['src.txt']), test"
    write(workflow_project, "class Plugin:\n    pass\n", steps)
    workflow_project.write("data", "src.txt")
    first = workflow_project.run()  # records lint's fingerprint
    assert first.code == 0, first.err
    write(workflow_project, ORDER, steps)
    plan = workflow_project.run("workflow", "--dry-run")
    assert "skip (policy says no)" in plan.out, plan.out
    run = workflow_project.run()
    assert run.states[0]["reason"] == "policy says no"


# -- signals ---------------------------------------------------------------------------------

SLOW_HOOK = """
class Plugin:
    @hookimpl
    def checkpoints_step_{hook}(self, step):
        if step.name == "lint":
            Path("hook-started").touch()
            time.sleep(30)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    ("hook", "flags"),
    [("start", ()), ("complete", ()), ("complete", ("--parallel",))],
    ids=["step_start", "step_complete", "parallel-step_complete"],
)
def test_a_signal_during_a_slow_hook_stops_the_run_within_a_second(
    project: Project, signum: int, hook: str, flags: tuple[str, ...]
) -> None:
    """The hook is abandoned after the grace period; the run is recorded interrupted."""
    steps = "[lint, test], docs" if flags else "lint, test, docs"
    write(project, SLOW_HOOK.format(hook=hook), steps)
    proc = project.popen("workflow", *flags)
    wait_for((project.root / "hook-started").exists, proc=proc, what="the hook")
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=20)
    took = time.monotonic() - sent
    assert proc.returncode == 128 + signum, err
    assert took < 2.5, took  # ~1.5 s promised; a loaded machine adds some
    cp: dict[str, Any] = json.loads((project.only_run() / "checkpoint.json").read_text())
    assert cp["status"] == "interrupted"
    assert "abandoned in checkpoints_step_" in err


def test_a_hook_of_a_step_that_ends_before_the_group_is_waited_for_can_be_abandoned(
    project: Project,
) -> None:
    """--parallel: lint ends, and calls its slow step_complete hook, while the main thread is
    still starting the group (held up there by the fixture). That hook runs in the main thread
    all the same, so SIGTERM abandons it after the grace period; it once ran in lint's worker
    thread, where no signal reaches it, and the interrupted group waited 30 s for it."""
    project.use("hook_before_serving")
    proc = project.popen("workflow", "--parallel")
    wait_for((project.root / "hook-started").exists, proc=proc, what="the hook")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    took = time.monotonic() - sent
    assert proc.returncode == 143, err
    assert took < 2.5, took  # ~1.5 s promised; a loaded machine adds some
    cp: dict[str, Any] = json.loads((project.only_run() / "checkpoint.json").read_text())
    assert cp["status"] == "interrupted"
    assert "abandoned in checkpoints_step_complete" in err
