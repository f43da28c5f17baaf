"""Plugins: every hook fires once, in order, at its moment, with the contracted arguments."""

from __future__ import annotations

import os
import platform
import re
import signal
import textwrap
import time

import pytest

from .conftest import Project, log_lines
from .plugin_support import FIRST_RUN_FAILING, RESUMED, error_lines, events, trail, write_tasks

# -- every hook, its arguments, its moment ---------------------------------------------------


def test_hooks_fire_once_in_order_with_the_contracted_arguments(project: Project) -> None:
    """A clean run: each hook once per occurrence, in order, with RunInfo/StepInfo/StepState."""
    write_tasks(project)
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    assert error_lines(outcome) == []
    rows = events(project)
    assert trail(rows) == [
        "environment",
        "workflow_start",
        *(
            f"{e}:{n}"
            for n in range(3)
            for e in ("should_skip_step", "step_start", "step_complete")
        ),
        "workflow_finish",
    ]
    run_id = project.only_run().name
    assert {(r["run"], r["run_type"]) for r in rows} == {(run_id, "RunInfo")}
    assert {r["step_type"] for r in rows if "step" in r} == {"StepInfo"}
    start = rows[1]
    assert (start["workflow"], start["path"], start["vars"]) == (
        "workflow",
        str(project.only_run()),
        {},
    )
    assert [r["name"] for r in rows if r["event"] == "step_start"] == ["lint", "test", "docs"]
    for row in rows:
        if row["event"] == "step_start":
            # run.state_of says running; a quick step's state file is only written when it
            # ends (the running state is written once a step has run 0.1 s).
            assert (row["known"], row["disk"], row["run_status"]) == ("running", None, "running")
        if row["event"] == "step_complete":  # the marker is on disk before the hook fires
            assert (row["state"], row["state_type"], row["marker"], row["disk"]) == (
                "completed",
                "StepState",
                True,
                "completed",
            )
    assert rows[-1] | {"pid": 0} == {
        "event": "workflow_finish",
        "pid": 0,
        "run": run_id,
        "run_status": "completed",
        "run_type": "RunInfo",
        "status": "completed",
        "disk": "completed",
        "concurrent": False,
    }


def test_environment_hook_is_stored_under_the_plugin_name(project: Project) -> None:
    """Built-in ``environment`` keys at the top level; a plugin's dict under its name."""
    write_tasks(project)
    assert project.invoke("workflow").code == 0
    env = project.checkpoint(project.only_run())["environment"]
    assert env["tasks.Recorder"] == {"recorded": True}
    assert env["python_version"] and "git_available" in env
    # The built-in values are the standard library's, computed without its slow paths.
    assert env["python_version"] == platform.python_version()
    assert env["platform"] == platform.platform()


def test_failed_step_then_resume_in_a_new_process(project: Project) -> None:
    """Real processes: step_failed after the failed state is on disk; on resume, completed steps
    fire step_skipped(already_complete) and nothing fires twice."""
    write_tasks(project)
    first = project.run("workflow", env={"FAIL": "1"})
    assert first.code == 3, first.err
    rows = events(project)
    assert trail(rows) == FIRST_RUN_FAILING
    failed = rows[7]
    assert (failed["state"], failed["exit_code"], failed["error"], failed["disk"]) == (
        "failed",
        3,
        "UnexpectedExit",
        "failed",
    )
    assert (rows[-1]["status"], rows[-1]["disk"], rows[-1]["run_status"]) == ("failed",) * 3

    second = project.run("workflow", "--resume")
    assert second.code == 0, second.err
    assert error_lines(first) == error_lines(second) == []
    resumed = events(project)[len(rows) :]
    assert trail(resumed) == RESUMED
    assert resumed[2]["reason"] == "already_complete"
    assert (rows[1]["vars"], resumed[1]["vars"]) == ({}, {"linted": True})  # run.vars persist
    assert len({r["pid"] for r in rows} | {r["pid"] for r in resumed}) == 2
    assert {r["run"] for r in resumed} == {rows[0]["run"]}
    assert (resumed[-1]["status"], resumed[-1]["disk"]) == ("completed", "completed")


def test_interrupted_run_fires_step_failed_and_finish_interrupted(project: Project) -> None:
    """SIGTERM during a step: step_failed with an interrupted state, then finish(interrupted)."""
    write_tasks(project)
    proc = project.popen("workflow", env={"SLOW": "1"})
    deadline = time.monotonic() + 30
    while not (project.root / "started").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    rows = events(project)
    assert trail(rows)[-2:] == ["step_failed:1", "workflow_finish"]
    assert (rows[-2]["state"], rows[-2]["error"], rows[-2]["disk"]) == (
        "interrupted",
        "Terminated",
        "interrupted",
    )
    assert (rows[-1]["status"], rows[-1]["disk"]) == ("interrupted", "interrupted")


def test_parallel_steps_fire_each_event_once_and_never_concurrently(project: Project) -> None:
    """A parallel group: steps run in threads, hooks are still called one at a time."""
    write_tasks(project, steps="lint, [test, docs], parallel=True")
    outcome = project.invoke("workflow", env={"HOOK_DELAY": "0.05"})
    assert outcome.code == 0, outcome.err
    assert error_lines(outcome) == []
    rows = events(project)
    assert not [row for row in rows if row["concurrent"]]
    steps = trail(rows)
    for n in range(3):
        mine = [e for e in steps if e.endswith(f":{n}")]
        assert mine == [f"should_skip_step:{n}", f"step_start:{n}", f"step_complete:{n}"]
    assert (steps[:2], steps[-1]) == (["environment", "workflow_start"], "workflow_finish")


@pytest.mark.parametrize(
    ("name", "arg"), [("checkpoints_step_start", "stp"), ("checkpoints_workflow_finish", "state")]
)
def test_hook_arguments_are_checked_by_name(project: Project, name: str, arg: str) -> None:
    """An implementation asking for an argument its hook does not have is refused up front."""
    write_tasks(project, plugins="Typo()")
    project.write(
        (project.root / "tasks.py")
        .read_text()
        .replace(
            "ns = Collection(",
            f"class Typo:\n    @hookimpl\n    def {name}(self, run, {arg}): pass\n\n"
            "ns = Collection(",
        )
    )
    outcome = project.invoke("workflow")
    assert outcome.code == 2
    assert "plugin 'tasks.Typo' is invalid" in outcome.err and repr(arg) in outcome.err
    assert project.runs() == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "def checkpoints_step_started(self, run): pass",
            "unknown hook 'checkpoints_step_started'",
        ),
        (
            "@hookimpl(wrapper=True)\n    def checkpoints_step_start(self, run):\n        yield",
            "hook wrappers are supported only for checkpoints_run_step (checkpoints_step_start)",
        ),
        ("def checkpoints_run_step(self, step): pass", "checkpoints_run_step takes only wrappers"),
        (
            "async def checkpoints_step_start(self, run): pass",
            "checkpoints_step_start is async def; hooks are called synchronously",
        ),
        (
            "# no marker\n    def checkpoints_step_start(self, run): pass",
            "checkpoints_step_start is named like a hook but has no @hookimpl",
        ),
    ],
    ids=["misspelt-hook", "hook-wrapper", "plain-run-step", "async-hook", "no-hookimpl"],
)
def test_invalid_plugins_are_refused(project: Project, body: str, expected: str) -> None:
    """A misspelt hook, a wrapper where none is taken, an async or unmarked hook stops the
    command before anything is written."""
    write_tasks(project, plugins="Odd()")
    decorated = body if body.startswith(("@", "#")) else f"@hookimpl\n    {body}"
    project.write(
        (project.root / "tasks.py")
        .read_text()
        .replace("ns = Collection(", f"class Odd:\n    {decorated}\n\nns = Collection(")
    )
    outcome = project.invoke("workflow")
    assert outcome.code == 2
    assert "plugin 'tasks.Odd' is invalid" in outcome.err and expected in outcome.err
    assert project.runs() == []


def test_a_class_given_instead_of_an_instance_is_refused(project: Project) -> None:
    """``plugins=[Recorder]`` (the class) is refused at registration, naming the fix."""
    write_tasks(project, plugins="Recorder")
    outcome = project.invoke("workflow")
    assert outcome.code == 2
    assert (
        "plugin 'tasks.Recorder' is invalid: Recorder is a class, not an instance; "
        "register an instance (Recorder())"
    ) in outcome.err
    assert project.runs() == []


# -- should_skip_step ------------------------------------------------------------------------

DECIDER = """
class Decider:
    # Registered after Recorder, so called first: its reason wins for docs.
    @hookimpl
    def checkpoints_should_skip_step(self, run, step):
        return "decided_by_decider" if step.name == "docs" else ""

ns = Collection("""


def test_should_skip_step_first_non_empty_reason_wins(project: Project) -> None:
    """firstresult: "" lets the next plugin decide; a reason skips the step and stops the call."""
    write_tasks(project, plugins="Recorder(), Decider()")
    source = (project.root / "tasks.py").read_text()
    project.write(source.replace("ns = Collection(", textwrap.dedent(DECIDER).strip("\n"), 1))
    outcome = project.invoke("workflow", env={"SKIP_TEST": "no_relevant_changes"})
    assert outcome.code == 0, outcome.err
    assert log_lines(project) == ["lint-ran"]
    assert trail(events(project)) == [
        "environment",
        "workflow_start",
        "should_skip_step:0",
        "step_start:0",
        "step_complete:0",
        "should_skip_step:1",
        "step_skipped:1",
        "step_skipped:2",  # Decider answered: Recorder's should_skip_step was not called
        "workflow_finish",
    ]
    run = project.only_run()
    assert [r["reason"] for r in events(project) if r["event"] == "step_skipped"] == [
        "no_relevant_changes",
        "decided_by_decider",
    ]
    for number, reason in ((1, "no_relevant_changes"), (2, "decided_by_decider")):
        state = project.state(run, number)
        assert (state["status"], state["reason"]) == ("skipped", reason)
    smart = project.checkpoint(run)["smart_execution"]
    assert smart["reasons"] == {"1": "no_relevant_changes", "2": "decided_by_decider"}
    assert smart["skipped_steps"] == [1, 2]
    assert re.search(r"\bdocs\b.*\bdecided_by_decider\b", outcome.out), outcome.out


def test_should_skip_step_is_asked_by_dry_run_and_nothing_else_fires(project: Project) -> None:
    """--dry-run shows a plugin's skip decision; no notification hook fires."""
    write_tasks(project)
    outcome = project.invoke("workflow", "--dry-run", env={"SKIP_DOCS": "not_today"})
    assert outcome.code == 0, outcome.err
    assert re.search(r"^ .*\bdocs\b.*\(not_today\)$", outcome.out, re.MULTILINE), outcome.out
    assert {r["event"] for r in events(project)} == {"should_skip_step"}
    assert project.runs() == []


def test_hooks_fire_without_checkpoints_too(project: Project) -> None:
    """checkpoints.enabled false: same notifications, empty workflow_id, no environment hook."""
    write_tasks(project, config='{"enabled": False}')
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    assert error_lines(outcome) == []
    rows = events(project)
    assert trail(rows) == [
        "workflow_start",
        *(
            f"{e}:{n}"
            for n in range(3)
            for e in ("should_skip_step", "step_start", "step_complete")
        ),
        "workflow_finish",
    ]
    assert {(r["run"], r.get("path", "None"), r.get("marker")) for r in rows} == {
        ("", "None", None)
    }
    assert project.runs() == []
