"""Plugins: INVOKE_CHECKPOINTS_DEBUG=1 traces every hook call to stderr."""

from __future__ import annotations

import itertools
import re

import pytest

from .conftest import Project
from .plugin_support import events, write_tasks

# -- debug tracing ---------------------------------------------------------------------------

TRACE = re.compile(r"^invoke-checkpoints debug: (?P<hook>\w+)\((?P<args>.*)\) -> (?P<plugin>\S+)$")


@pytest.mark.parametrize("debug", ["1", "0"])
def test_debug_traces_every_hook_call(project: Project, debug: str) -> None:
    """INVOKE_CHECKPOINTS_DEBUG=1: one stderr line per implementation called, in order."""
    write_tasks(project)
    outcome = project.invoke("workflow", env={"INVOKE_CHECKPOINTS_DEBUG": debug})
    assert outcome.code == 0, outcome.err
    traces = [m for line in outcome.err.splitlines() if (m := TRACE.match(line))]
    if debug == "0":
        assert "debug" not in outcome.err
        return
    recorded = [m for m in traces if m["plugin"] == "tasks.Recorder"]
    assert [m["hook"].removeprefix("checkpoints_") for m in recorded] == [
        row["event"] for row in events(project)
    ]
    run_id = project.only_run().name
    assert recorded[2]["args"] == f"run=<run {run_id} running>, step=<step 0 lint>"
    assert {m["plugin"] for m in traces} >= {"environment", "reporter", "tasks.Recorder"}
    reporter = [m["hook"] for m in traces if m["plugin"] == "reporter"]
    assert reporter.count("checkpoints_step_complete") == 3
    assert "checkpoints_environment <- tasks.Recorder returned {'recorded': True}" in outcome.err


#: The line after each implementation returns: its result, if any, and how long it took.
DONE = re.compile(
    r"^invoke-checkpoints debug: (?P<hook>\w+) <- (?P<plugin>\S+)"
    r"(?P<how> returned .*| raised \w+)? \((?P<ms>\d+\.\d\d) ms\)$"
)
#: The line pluggy's hook-call monitor writes after each call of a hook.
CALL = re.compile(
    r"^invoke-checkpoints debug: (?P<hook>\w+): (?P<n>\d+) implementations? "
    r"\((?P<ms>\d+\.\d\d) ms\)$"
)


def test_debug_gives_each_call_its_duration_so_a_slow_plugin_is_named(project: Project) -> None:
    """Every implementation called gets a second line with its duration in ms; every hook call
    ends with a line naming the hook, its implementation count and the call's duration."""
    write_tasks(project)
    env = {"INVOKE_CHECKPOINTS_DEBUG": "1", "HOOK_DELAY": "0.2"}  # Recorder sleeps in each hook
    outcome = project.invoke("workflow", env=env)
    assert outcome.code == 0, outcome.err
    lines = outcome.err.splitlines()
    started = [(m["hook"], m["plugin"]) for line in lines if (m := TRACE.match(line))]
    done = [m for line in lines if (m := DONE.match(line))]
    assert [(m["hook"], m["plugin"]) for m in done] == started
    assert {m["plugin"] for m in done if float(m["ms"]) >= 200} == {"tasks.Recorder"}
    # A notification is two calls: the built-ins', then the other plugins'. The call around
    # a step's execution (checkpoints_run_step) has no plugin implementation here.
    calls = [m for line in lines if (m := CALL.match(line)) and m["hook"] != "checkpoints_run_step"]
    assert [hook for hook, _ in itertools.groupby(m["hook"] for m in calls)] == [
        hook for hook, _ in itertools.groupby(h for h, _ in started)
    ]
    slow = {m["hook"] for m in calls if float(m["ms"]) >= 200}
    assert slow == {hook for hook, _ in started}  # Recorder implements every hook
    assert sum(int(m["n"]) for m in calls) == len(started)


def test_debug_prints_the_traceback_of_a_failing_hook(project: Project) -> None:
    """A raising implementation: its "raised" line, its traceback, then the one-line report."""
    write_tasks(project, plugins="Boom()")
    env = {"INVOKE_CHECKPOINTS_DEBUG": "1", "BOOM": "checkpoints_step_start", "BOOM_STEP": "lint"}
    outcome = project.invoke("workflow", env=env)
    assert outcome.code == 0, outcome.err
    err = outcome.err
    raised = re.search(
        r"^invoke-checkpoints debug: checkpoints_step_start <- tasks\.Boom raised RuntimeError "
        r"\(\d+\.\d\d ms\)\nTraceback \(most recent call last\):\n(?:.*\n)*?"
        r"RuntimeError: boom in checkpoints_step_start\nsecond line\n"
        r"invoke-checkpoints: plugin 'tasks\.Boom' failed in checkpoints_step_start: "
        r"RuntimeError: boom in checkpoints_step_start$",
        err,
        re.MULTILINE,
    )
    assert raised, err
