"""Plugins: every hook, its arguments and order, discovery, switches, and isolation of errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import Outcome, Project, log_lines

if TYPE_CHECKING:
    from collections.abc import Callable

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "notify_plugin"

#: Logs every hook call, with what was on disk at that moment, to events.jsonl beside tasks.py.
RECORDER = '''
import json, os, time
from pathlib import Path
from invoke import Collection, task
from invoke_checkpoints import current_step, hookimpl, workflow

LOG = Path(__file__).resolve().parent / "events.jsonl"

BUSY = []  # non-empty while a hook runs: a second hook entering means concurrent calls

def emit(event, run, step=None, **fields):
    row = {"event": event, "pid": os.getpid(), "run": run.workflow_id, "run_status": run.status}
    if step is not None:
        row.update(step=step.number, name=step.name, step_type=type(step).__name__)
    row.update(run_type=type(run).__name__, concurrent=bool(BUSY), **fields)
    BUSY.append(event)
    time.sleep(float(os.environ.get("HOOK_DELAY", "0")))
    with LOG.open("a") as fh:
        fh.write(json.dumps(row) + "\\n")
    BUSY.pop()

def on_disk(run, name):
    path = run.path / name if run.path is not None else None
    return json.loads(path.read_text()) if path is not None and path.exists() else None

def state_on_disk(run, step):
    return (on_disk(run, f"state/step_{step.number:02d}_state.json") or {}).get("status")

class Recorder:
    @hookimpl
    def checkpoints_environment(self, run):
        emit("environment", run)
        return {"recorded": True}

    @hookimpl
    def checkpoints_workflow_start(self, run):
        emit("workflow_start", run, workflow=run.name, path=str(run.path), vars=run.vars)

    @hookimpl
    def checkpoints_should_skip_step(self, run, step):
        emit("should_skip_step", run, step)
        return os.environ.get("SKIP_" + step.name.upper())

    @hookimpl
    def checkpoints_step_start(self, run, step):
        emit("step_start", run, step, disk=state_on_disk(run, step))

    @hookimpl
    def checkpoints_step_complete(self, run, step, state):
        marker = run.path and (run.path / f"step_{step.number:02d}.complete").is_file()
        emit("step_complete", run, step, state=state.status.value, state_type=type(state).__name__,
             marker=marker, disk=state_on_disk(run, step))

    @hookimpl
    def checkpoints_step_failed(self, run, step, state, error):
        emit("step_failed", run, step, state=state.status.value, exit_code=state.exit_code,
             error=type(error).__name__, disk=state_on_disk(run, step))

    @hookimpl
    def checkpoints_step_skipped(self, run, step, reason):
        emit("step_skipped", run, step, reason=reason)

    @hookimpl
    def checkpoints_workflow_finish(self, run, status):
        disk = (on_disk(run, "checkpoint.json") or {}).get("status")
        emit("workflow_finish", run, status=status, disk=disk)

class Boom:
    """Raises in the hook named by $BOOM (and, for step hooks, only for step $BOOM_STEP)."""

    def _maybe(self, hook, step=None):
        if os.environ.get("BOOM") != hook:
            return
        if step is None or os.environ.get("BOOM_STEP", step.name) == step.name:
            raise RuntimeError(f"boom in {hook}\\nsecond line")

    @hookimpl
    def checkpoints_environment(self, run):
        self._maybe("checkpoints_environment")

    @hookimpl
    def checkpoints_workflow_start(self, run):
        self._maybe("checkpoints_workflow_start")

    @hookimpl
    def checkpoints_should_skip_step(self, run, step):
        self._maybe("checkpoints_should_skip_step", step)

    @hookimpl
    def checkpoints_step_start(self, run, step):
        self._maybe("checkpoints_step_start", step)

    @hookimpl
    def checkpoints_step_complete(self, run, step, state):
        self._maybe("checkpoints_step_complete", step)

    @hookimpl
    def checkpoints_step_failed(self, run, step, state, error):
        self._maybe("checkpoints_step_failed", step)

    @hookimpl
    def checkpoints_step_skipped(self, run, step, reason):
        self._maybe("checkpoints_step_skipped", step)

    @hookimpl
    def checkpoints_workflow_finish(self, run, status):
        self._maybe("checkpoints_workflow_finish")

@task
def lint(c):
    c.run("echo lint-ran >> log.txt")
    current_step().run.vars["linted"] = True

@task
def test(c):
    c.run("echo test-ran >> log.txt")
    if os.environ.get("FAIL"):
        c.run("exit 3")
    if os.environ.get("SLOW"):
        Path("started").touch()
        time.sleep(30)

@task
def docs(c):
    c.run("echo docs-ran >> log.txt")

ns = Collection(lint, test, docs)
'''

HOOKS = (
    "checkpoints_environment",
    "checkpoints_workflow_start",
    "checkpoints_should_skip_step",
    "checkpoints_step_start",
    "checkpoints_step_complete",
    "checkpoints_step_failed",
    "checkpoints_step_skipped",
    "checkpoints_workflow_finish",
)
ERROR_LINE = re.compile(
    r"^invoke-checkpoints: plugin '(?P<plugin>[^']+)' failed in (?P<hook>\w+): "
)


def write_tasks(
    project: Project,
    plugins: str = "Recorder()",
    config: str = "{}",
    steps: str = "lint, test, docs",
) -> None:
    """RECORDER's tasks.py with ``workflow(<steps>, plugins=[<plugins>])``."""
    project.write(
        textwrap.dedent(RECORDER)
        + f"ns.add_collection(workflow({steps}, plugins=[{plugins}]))\n"
        + f'ns.configure({{"checkpoints": {config}}})\n'
    )


def events(project: Project) -> list[dict[str, Any]]:
    path = project.root / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def trail(rows: list[dict[str, Any]]) -> list[str]:
    """``event`` or ``event:step`` per row, the order the hooks fired in."""
    return [row["event"] + (f":{row['step']}" if "step" in row else "") for row in rows]


def error_lines(outcome: Outcome) -> list[str]:
    return [line for line in outcome.err.splitlines() if ERROR_LINE.match(line)]


FIRST_RUN_FAILING = [
    "environment",
    "workflow_start",
    "should_skip_step:0",
    "step_start:0",
    "step_complete:0",
    "should_skip_step:1",
    "step_start:1",
    "step_failed:1",
    "workflow_finish",
]
RESUMED = [
    "environment",
    "workflow_start",
    "step_skipped:0",
    "should_skip_step:1",
    "step_start:1",
    "step_complete:1",
    "should_skip_step:2",
    "step_start:2",
    "step_complete:2",
    "workflow_finish",
]


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
        if row["event"] == "step_start":  # the state file already says running
            assert (row["disk"], row["run_status"]) == ("running", "running")
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


def test_environment_hook_returning_a_non_dict_is_reported(project: Project) -> None:
    """A hook returning the wrong type is reported like a raising one, and the run goes on."""
    write_tasks(project, plugins="Bad()")
    project.write(
        (project.root / "tasks.py")
        .read_text()
        .replace(
            "ns = Collection(",
            "class Bad:\n    @hookimpl\n    def checkpoints_environment(self):\n"
            "        return ['not', 'a', 'dict']\n\nns = Collection(",
        )
    )
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    message = "plugin 'tasks.Bad' failed in checkpoints_environment: returned list, expected dict"
    assert error_lines(outcome) == [f"invoke-checkpoints: {message} or None"]
    cp = project.checkpoint(project.only_run())
    assert "tasks.Bad" not in cp["environment"]
    assert cp["warnings"] == [f"{message} or None"]


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
            "hook wrappers are not supported (checkpoints_step_start)",
        ),
    ],
    ids=["misspelt-hook", "hook-wrapper"],
)
def test_invalid_plugins_are_refused(project: Project, body: str, expected: str) -> None:
    """A misspelt hook name or a hook wrapper stops the command before anything is written."""
    write_tasks(project, plugins="Odd()")
    decorated = body if body.startswith("@") else f"@hookimpl\n    {body}"
    project.write(
        (project.root / "tasks.py")
        .read_text()
        .replace("ns = Collection(", f"class Odd:\n    {decorated}\n\nns = Collection(")
    )
    outcome = project.invoke("workflow")
    assert outcome.code == 2
    assert "plugin 'tasks.Odd' is invalid" in outcome.err and expected in outcome.err
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


# -- a hook that raises ----------------------------------------------------------------------


def fail_then_resume(project: Project, env: dict[str, str]) -> tuple[Outcome, Outcome]:
    first = project.invoke("workflow", env={"FAIL": "1", **env})
    second = project.invoke("workflow", "--resume", env=env)
    return first, second


@pytest.mark.parametrize(
    "hook",
    HOOKS,
)
def test_raising_hook_is_reported_and_changes_nothing(project: Project, hook: str) -> None:
    """Every hook: the error is one line naming the plugin and recorded in the run's warnings;
    other plugins still see every event; outcomes, markers and files are as without it."""
    write_tasks(project, plugins="Recorder(), Boom()")  # Boom is called first
    first, second = fail_then_resume(project, {"BOOM": hook})
    assert (first.code, second.code) == (3, 0), second.err
    assert trail(events(project)) == FIRST_RUN_FAILING + RESUMED
    assert log_lines(project) == ["lint-ran", "test-ran", "test-ran", "docs-ran"]
    run = project.only_run()
    assert project.markers(run) == [0, 1, 2]
    cp = project.checkpoint(run)
    assert cp["status"] == "completed"
    fired = sum(row["event"] == hook.removeprefix("checkpoints_") for row in events(project))
    message = f"plugin 'tasks.Boom' failed in {hook}: RuntimeError: boom in {hook}"
    assert error_lines(first) + error_lines(second) == [f"invoke-checkpoints: {message}"] * fired
    assert "second line" not in first.err + second.err
    assert cp["warnings"] == [message] * fired


def test_raising_hook_never_loses_the_steps_checkpoint(project: Project) -> None:
    """A raising step_complete hook fires after the marker: the step stays complete."""
    write_tasks(project, plugins="Boom()")
    outcome = project.invoke(
        "workflow", env={"BOOM": "checkpoints_step_complete", "BOOM_STEP": "docs"}
    )
    assert outcome.code == 0
    run = project.only_run()
    assert project.markers(run) == [0, 1, 2]
    assert project.state(run, 2)["status"] == "completed"
    resumed = project.invoke("workflow", "--resume")
    assert "already completed; nothing to resume" in resumed.out
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran"]


STRICT = '{"strict_plugins": True}'


def test_strict_plugins_fails_the_run_at_a_consistent_point(project: Project) -> None:
    """strict: a raising step_complete hook stops the run after that step's checkpoint; the
    run resumes from the next step."""
    write_tasks(project, plugins="Recorder(), Boom()", config=STRICT)
    env = {"BOOM": "checkpoints_step_complete", "BOOM_STEP": "lint"}
    outcome = project.invoke("workflow", env=env)
    assert outcome.code == 1
    assert "checkpoints.strict_plugins is on, so the run stops" in outcome.err
    assert log_lines(project) == ["lint-ran"]
    run = project.only_run()
    cp = project.checkpoint(run)
    assert (cp["status"], cp["completed_steps"], cp["current_step"]) == ("failed", [0], 1)
    assert project.markers(run) == [0]
    assert cp["warnings"] == [
        "plugin 'tasks.Boom' failed in checkpoints_step_complete: RuntimeError: boom in "
        "checkpoints_step_complete"
    ]
    assert trail(events(project))[-2:] == ["step_complete:0", "workflow_finish"]
    assert events(project)[-1]["status"] == "failed"

    resumed = project.invoke("workflow", "--resume")  # BOOM unset: the plugin behaves now
    assert resumed.code == 0, resumed.err
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran"]
    assert project.checkpoint(run)["status"] == "completed"


@pytest.mark.parametrize(
    ("hook", "ran"),
    [
        ("checkpoints_environment", []),
        ("checkpoints_workflow_start", []),
        ("checkpoints_step_start", ["lint-ran", "test-ran"]),  # the step had started
        ("checkpoints_should_skip_step", ["lint-ran"]),
    ],
    ids=["environment", "workflow_start", "step_start", "should_skip_step"],
)
def test_strict_plugins_stops_before_the_next_step(
    project: Project, hook: str, ran: list[str]
) -> None:
    """strict: the run fails at the first consistent point after the raising hook."""
    write_tasks(project, plugins="Boom()", config=STRICT)
    outcome = project.invoke("workflow", env={"BOOM": hook, "BOOM_STEP": "test"})
    assert outcome.code == 1, outcome.err
    assert log_lines(project) == ran
    cp = project.checkpoint(project.only_run())
    assert cp["status"] == "failed"
    assert cp["warnings"] == [f"plugin 'tasks.Boom' failed in {hook}: RuntimeError: boom in {hook}"]


def test_strict_plugins_raising_step_skipped_stops_the_resume(project: Project) -> None:
    """strict: step_skipped(already_complete) raising on resume fails before the next step."""
    write_tasks(project, plugins="Boom()", config=STRICT)
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    outcome = project.invoke("workflow", "--resume", env={"BOOM": "checkpoints_step_skipped"})
    assert outcome.code == 1
    assert log_lines(project) == ["lint-ran", "test-ran"]


def test_strict_plugins_stops_after_a_parallel_group(project: Project) -> None:
    """strict: a hook raising inside a parallel group fails the run before the next step."""
    write_tasks(project, plugins="Boom()", config=STRICT, steps="[lint, test], docs, parallel=True")
    outcome = project.invoke(
        "workflow", env={"BOOM": "checkpoints_step_complete", "BOOM_STEP": "lint"}
    )
    assert outcome.code == 1
    assert sorted(log_lines(project)) == ["lint-ran", "test-ran"]
    assert project.checkpoint(project.only_run())["status"] == "failed"


def test_strict_plugins_raising_workflow_finish_keeps_the_run_complete(project: Project) -> None:
    """strict: a raising finish hook cannot undo the run; the exit code reports it."""
    write_tasks(project, plugins="Boom()", config=STRICT)
    outcome = project.invoke("workflow", env={"BOOM": "checkpoints_workflow_finish"})
    assert outcome.code == 1
    assert "strict_plugins is on" in outcome.err
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "completed"
    assert project.markers(run) == [0, 1, 2]


# -- discovery and control -------------------------------------------------------------------


def fake_distribution(
    site: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    *,
    dist: str = "fake-checkpoints-plugin",
    entry_point: str | None = "fake",
) -> str:
    """A real installed distribution (dist-info on sys.path) providing one module."""
    module = f"fakeplug_{uuid.uuid4().hex[:10]}"
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "RECORD").write_text(f"{module}.py,,\n{info.name}/METADATA,,\n")
    if entry_point:
        (info / "entry_points.txt").write_text(f"[invoke_checkpoints]\n{entry_point} = {module}\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(sys.modules, module, None)  # restored (removed) after the test
    del sys.modules[module]
    return module


FAKE_PLUGIN = """
from invoke_checkpoints import hookimpl

@hookimpl
def checkpoints_environment(run):
    return {"loaded": True}
"""
AUTOLOAD_ON = {"INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD": "0"}
AUTOLOAD_OFF = {"INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD": "1"}


@pytest.mark.parametrize(("env", "loaded"), [(AUTOLOAD_ON, True), (AUTOLOAD_OFF, False)])
def test_entry_point_plugins_load_unless_autoload_is_off(
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    loaded: bool,
) -> None:
    """An installed distribution's ``invoke_checkpoints`` entry point is a plugin."""
    module = fake_distribution(tmp_path / "site", monkeypatch, FAKE_PLUGIN)
    write_tasks(project)
    outcome = project.invoke("workflow", env=env)
    assert outcome.code == 0, outcome.err
    environment = project.checkpoint(project.only_run())["environment"]
    assert (environment.get("fake") == {"loaded": True}) is loaded
    assert (module in sys.modules) is loaded


def test_workflow_plugins_lists_every_plugin_and_its_distribution(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`workflow.plugins`: name, then where it came from; disabled names last."""
    from invoke_checkpoints import __version__

    fake_distribution(tmp_path / "site", monkeypatch, FAKE_PLUGIN)
    configured = fake_distribution(
        tmp_path / "site", monkeypatch, FAKE_PLUGIN, dist="cfg-dist", entry_point=None
    )
    write_tasks(
        project,
        plugins="Recorder(), Recorder(), sys.modules[__name__]",
        config=f'{{"plugins": ["{configured}"], "disable_plugins": ["reporter", "nosuch"]}}',
    )
    project.write("import sys\n" + (project.root / "tasks.py").read_text())
    outcome = project.invoke("workflow.plugins", env=AUTOLOAD_ON)
    assert outcome.code == 0, outcome.err
    rows = [
        ("environment", f"built-in (invoke-checkpoints {__version__})"),
        ("smart", f"built-in (invoke-checkpoints {__version__})"),
        ("fake", "fake-checkpoints-plugin 1.2.3 (entry point)"),
        (configured, f"cfg-dist 1.2.3, {configured} (checkpoints.plugins)"),
        ("tasks.Recorder", "tasks (workflow(plugins=...))"),
        ("tasks.Recorder#2", "tasks (workflow(plugins=...))"),
        ("tasks", "tasks (workflow(plugins=...))"),
        ("reporter", "(disabled by checkpoints.disable_plugins)"),
        ("nosuch", "(disabled by checkpoints.disable_plugins)"),
    ]
    width = len(configured)
    assert outcome.out.splitlines() == [f"{name:<{width}}  {origin}" for name, origin in rows]


#: How to see, from stdout, checkpoint.json and the Recorder's events, that a plugin was active.
PLUGIN_EFFECTS: dict[str, Callable[[str, dict[str, Any], list[dict[str, Any]]], bool]] = {
    "environment": lambda out, cp, rows: "python_version" in cp["environment"],
    "reporter": lambda out, cp, rows: "[1/3] lint" in out,
    "tasks.Recorder": lambda out, cp, rows: bool(rows),
    "fake": lambda out, cp, rows: cp["environment"].get("fake") == {"loaded": True},
    "CONFIGURED": lambda out, cp, rows: cp["environment"].get("CONFIGURED") == {"loaded": True},
}


@pytest.mark.parametrize("blocked", sorted(PLUGIN_EFFECTS))
def test_disable_plugins_blocks_exactly_the_named_plugin(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocked: str
) -> None:
    """checkpoints.disable_plugins works for built-ins, entry points, config and workflow()."""
    fake_distribution(tmp_path / "site", monkeypatch, FAKE_PLUGIN)
    configured = fake_distribution(
        tmp_path / "site", monkeypatch, FAKE_PLUGIN, dist="cfg-dist", entry_point=None
    )
    name = configured if blocked == "CONFIGURED" else blocked
    config = f'{{"plugins": ["{configured}"], "disable_plugins": ["{name}"]}}'
    write_tasks(project, config=config)
    outcome = project.invoke("workflow", env=AUTOLOAD_ON)
    assert outcome.code == 0, outcome.err
    cp = project.checkpoint(project.only_run())
    cp["environment"]["CONFIGURED"] = cp["environment"].pop(configured, None)
    active = {
        plugin
        for plugin, effect in PLUGIN_EFFECTS.items()
        if effect(outcome.out, cp, events(project))
    }
    assert active == set(PLUGIN_EFFECTS) - {blocked}
    listing = project.invoke("workflow.plugins", env=AUTOLOAD_ON).out.splitlines()
    mentions = [line for line in listing if line.split()[0] == name]
    assert len(mentions) == 1
    disabled = rf"{re.escape(name)} +\(disabled by checkpoints\.disable_plugins\)"
    assert re.fullmatch(disabled, mentions[0])


def test_a_broken_entry_point_stops_the_command_until_disabled(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed plugin that cannot import is named, with how to switch it off."""
    fake_distribution(tmp_path / "site", monkeypatch, "raise ImportError('no module named x')\n")
    write_tasks(project)
    outcome = project.invoke("workflow", env=AUTOLOAD_ON)
    assert outcome.code == 2
    assert (
        "plugin 'fake' (entry point of fake-checkpoints-plugin 1.2.3) cannot be loaded: "
        "ImportError: no module named x; block it with checkpoints.disable_plugins: [fake]"
    ) in outcome.err
    assert project.runs() == []
    write_tasks(project, config='{"disable_plugins": ["fake"]}')
    assert project.invoke("workflow", env=AUTOLOAD_ON).code == 0


def test_config_plugins_must_import(project: Project) -> None:
    """A misspelt module in checkpoints.plugins is an error, not silently ignored."""
    write_tasks(project, config='{"plugins": ["no_such_plugin_module"]}')
    outcome = project.invoke("workflow")
    assert outcome.code == 2
    assert "config checkpoints.plugins: cannot import 'no_such_plugin_module'" in outcome.err
    assert project.runs() == []


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


# -- the example plugin package, installed for real ------------------------------------------


@pytest.fixture(scope="module")
def notify_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/notify_plugin built and installed by pip into a directory of its own."""
    pytest.importorskip("hatchling", reason="building the example needs hatchling installed")
    site = tmp_path_factory.mktemp("notify") / "site"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-index", "--no-deps", "--no-build-isolation", "--target", str(site)),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return site


@pytest.mark.slow
def test_example_notify_plugin_logs_a_fail_then_resume_cycle(
    project: Project, notify_site: Path
) -> None:
    """pip-installed, found by its entry point; real processes; one JSON line per event."""
    write_tasks(project, plugins="")
    env = {"PYTHONPATH": str(notify_site), **AUTOLOAD_ON}
    listing = project.run("workflow.plugins", env=env)
    assert re.search(
        r"^notify +invoke-checkpoints-notify 0\.1\.0 \(entry point\)$", listing.out, re.MULTILINE
    ), listing
    assert project.run("workflow", env={**env, "FAIL": "1"}).code == 3
    resumed = project.run("workflow", "--resume", env=env)
    assert resumed.code == 0, resumed.err
    run = project.only_run()
    log = run / "events.jsonl"
    assert project.checkpoint(run)["environment"]["notify"] == {"log": str(log)}
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["event"], r.get("step")) for r in rows] == [
        ("workflow_start", None),
        ("step_start", 0),
        ("step_complete", 0),
        ("step_start", 1),
        ("step_failed", 1),
        ("workflow_finish", None),
        ("workflow_start", None),
        ("step_skipped", 0),
        ("step_start", 1),
        ("step_complete", 1),
        ("step_start", 2),
        ("step_complete", 2),
        ("workflow_finish", None),
    ]
    assert {(r["workflow"], r["workflow_id"]) for r in rows} == {("workflow", run.name)}
    assert len({r["pid"] for r in rows[:6]}) == len({r["pid"] for r in rows[6:]}) == 1
    assert rows[0]["pid"] != rows[6]["pid"]
    failed = rows[4]
    assert (failed["status"], failed["exit_code"], failed["step_name"]) == ("failed", 3, "test")
    assert failed["error"].startswith("UnexpectedExit: ")
    assert rows[7]["reason"] == "already_complete"
    assert [r["status"] for r in rows if r["event"] == "workflow_finish"] == ["failed", "completed"]

    elsewhere = project.root / "logs" / "all.jsonl"
    again = project.run("workflow", env={**env, "CHECKPOINTS_NOTIFY_LOG": "logs/all.jsonl"})
    assert again.code == 0, again.err
    assert [json.loads(line)["event"] for line in elsewhere.read_text().splitlines()] == [
        "workflow_start",
        *("step_start", "step_complete") * 3,
        "workflow_finish",
    ]
