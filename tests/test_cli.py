"""The command line: tasks and flags, exit codes, --dry-run, status, a second workflow."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest
from invoke import Collection, Context, Program, Task

from invoke_checkpoints import workflow

from .conftest import Project, log_lines, rename_run

if TYPE_CHECKING:
    from pathlib import Path

STATUS_KEYS = {
    "workflow",
    "run_id",
    "path",
    "status",
    "completed",
    "total",
    "current_step",
    "current_step_name",
    "started_at",
    "last_checkpoint",
    "finished_at",
    "steps",
    "warnings",
    "resume_command",
}
STATUS_STEP_KEYS = {"number", "name", "status", "duration_seconds", "exit_code", "reason", "error"}


@pytest.fixture
def two_workflows(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``three_steps`` with its second workflow, ``release`` (docs, lint), for the whole test."""
    monkeypatch.setenv("RELEASE_WORKFLOW", "1")
    return project.use("three_steps")


def _namespace(path: Path) -> Collection:
    """The ``ns`` of a tasks.py, imported the way Invoke does it."""
    spec = importlib.util.spec_from_file_location("tasks_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ns = module.ns
    assert isinstance(ns, Collection)
    return ns


def test_workflow_returns_a_collection_named_after_it() -> None:
    """workflow(*steps) is a Collection named "workflow"; name= names another one."""

    def body(c: Context) -> None:
        """A task body."""

    lint: Task[Any] = Task(body, name="lint")
    docs: Task[Any] = Task(body, name="docs")
    default = workflow(lint, docs)
    assert isinstance(default, Collection)
    assert default.name == "workflow"
    assert default.default == "run"
    release = workflow(docs, lint, name="release")
    assert release.name == "release"
    assert {"run", "status", "resume"} <= set(release.task_names)


def test_list_shows_every_task_of_both_workflows(project: Project, two_workflows: Path) -> None:
    """`invoke --list` names every task of each workflow collection."""
    ns = _namespace(two_workflows)
    outcome = project.invoke("--list")
    assert outcome.code == 0, outcome.err
    listed = {line.split()[0] for line in outcome.out.splitlines() if line.startswith("  ")}
    for flow in ("workflow", "release"):
        tasks = set(ns.collections[flow].task_names)
        assert {"run", "status", "resume"} <= tasks
        assert {f"{flow}.{name}" for name in tasks} <= listed
    assert "workflow.run (workflow)" in outcome.out
    assert "release.run (release)" in outcome.out


def test_help_shows_every_flag_of_every_task(project: Project, two_workflows: Path) -> None:
    """`invoke --help <task>` documents each flag the task accepts."""
    ns = _namespace(two_workflows)
    flow = ns.collections["workflow"]
    for name in flow.task_names:
        outcome = project.invoke("--help", f"workflow.{name}")
        assert outcome.code == 0, outcome.err
        for argument in flow[name].get_arguments():
            flag = f"--{argument.name.replace('_', '-')}"
            assert flag in outcome.out, (name, flag)
    run_help = project.invoke("--help", "workflow").out
    for flag in ("--resume[=STRING]", "--resume-from=STRING", "--dry-run"):
        assert flag in run_help
    status_help = project.invoke("--help", "workflow.status").out
    assert "--run=STRING" in status_help
    assert "--json" in status_help
    assert "--run=STRING" in project.invoke("--help", "workflow.resume").out


def test_program_run_without_exit(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Program(...).run(argv, exit=False), as Invoke's docs suggest, runs and records the run."""
    project.use("three_steps")
    monkeypatch.chdir(project.root)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setenv("FAIL", "1")
    err = io.StringIO()
    program = Program(name="invoke", binary="invoke", version="0")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        program.run(["invoke", "workflow"], exit=False)
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "failed"
    assert project.state(run, 1)["exit_code"] == 3
    assert log_lines(project) == ["lint-ran", "test-ran"]

    monkeypatch.delenv("FAIL")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        program.run(["invoke", "workflow", "--resume"], exit=False)
    assert project.checkpoint(run)["status"] == "completed"
    assert project.markers(run) == [0, 1, 2]


@pytest.mark.parametrize(
    ("code", "bad"),
    [
        pytest.param(1, "exit 1", id="command-exit-1"),
        pytest.param(3, "exit 3", id="command-exit-3"),
        pytest.param(42, "exit 42", id="command-exit-42"),
        pytest.param(7, "invoke-exit", id="invoke-exit-7"),
        pytest.param(1, "python-exception", id="python-exception"),
    ],
)
def test_real_process_exits_with_step_code(project: Project, code: int, bad: str) -> None:
    """A failing step: invoke exits with the step's own code; later steps do not run."""
    project.use("bad_middle")
    outcome = project.run("workflow", env={"BAD": bad})
    assert outcome.code == code, outcome
    run = project.only_run()
    assert log_lines(project) == ["ok"]
    assert project.markers(run) == [0]
    assert project.checkpoint(run)["status"] == "failed"
    assert project.checkpoint(run)["current_step"] == 1
    state = project.state(run, 1)
    assert state["status"] == "failed"
    assert state["exit_code"] == code
    assert state["errors"] and state["errors"][0]
    assert not (run / "state" / "step_02_state.json").exists()


def test_error_text_records_the_command_and_stderr(project: Project) -> None:
    """The failed state's error text names the command and the tail of its stderr."""
    project.use("three_steps")
    project.edit(
        'c.run("exit " + os.environ.get("FAIL_CODE", "3"))',
        'c.run("echo disk full >&2; exit 3")',
    )
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    error = project.state(project.only_run(), 1)["errors"][0]
    assert "exit 3" in error
    assert "disk full" in error


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("workflow", "--dry-run"), id="new-run"),
        pytest.param(("workflow", "--dry-run", "--resume"), id="resume"),
        pytest.param(("workflow", "--dry-run", "--resume-from=test"), id="resume-from"),
    ],
)
def test_dry_run_in_fresh_project_writes_nothing(project: Project, argv: tuple[str, ...]) -> None:
    """--dry-run prints one line per step and creates no store, run, marker, state or lock."""
    project.use("three_steps")
    outcome = project.invoke(*argv)
    if "--resume-from=test" in argv:
        assert outcome.code == 2  # nothing to re-run from: said in one line, still no writes
    else:
        assert outcome.code == 0, outcome.err
        for number, name in enumerate(["lint", "test", "docs"]):
            assert any(
                line.split()[:2] == [str(number), name] for line in outcome.out.splitlines()
            ), outcome.out
    assert sorted(p.name for p in project.root.iterdir()) == ["tasks.py"]


@pytest.mark.parametrize(
    ("argv", "plan"),
    [
        pytest.param(("--resume",), ["complete", "run", "run"], id="resume"),
        pytest.param(("--resume-from=0",), ["run", "run", "run"], id="resume-from-0"),
        pytest.param(("--resume-from=docs",), ["complete", "run", "run"], id="resume-from-name"),
        pytest.param((), ["run", "run", "run"], id="new-run"),
    ],
)
def test_dry_run_on_existing_run_shows_plan_and_writes_nothing(
    project: Project, argv: tuple[str, ...], plan: list[str]
) -> None:
    """--dry-run after a failure: the plan per step; no file in the store changes or appears."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    for lock in project.store.glob("workflow.lock*"):
        lock.unlink()  # so that a lock file appearing would be seen
    before = project.snapshot()
    outcome = project.invoke("workflow", "--dry-run", *argv)
    assert outcome.code == 0, outcome.err
    lines = [line.split() for line in outcome.out.splitlines() if line.startswith("  ")]
    assert [line[2] for line in lines] == plan
    assert project.snapshot() == before
    assert log_lines(project) == ["lint-ran", "test-ran"]
    assert len(project.runs()) == 1


def test_dry_run_on_completed_run_says_nothing_to_do(project: Project) -> None:
    """--dry-run --resume on a completed run says it would run nothing; writes nothing."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    before = project.snapshot()
    outcome = project.invoke("workflow", "--resume", "--dry-run")
    assert outcome.code == 0, outcome.err
    assert "already completed" in outcome.out
    assert project.snapshot() == before


def test_status_json_through_a_run(project: Project) -> None:
    """status --json: fixed keys; none, failed, then completed as the run goes."""
    project.use("three_steps")
    none = project.invoke("workflow.status", "--json")
    assert none.code == 0, none.err
    assert json.loads(none.out) == {"workflow": "workflow", "run_id": None, "status": "none"}
    assert not project.store.exists()

    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    run = project.only_run()
    doc = json.loads(project.invoke("workflow.status", "--json").out)
    assert set(doc) >= STATUS_KEYS
    assert all(set(step) >= STATUS_STEP_KEYS for step in doc["steps"])
    assert (doc["workflow"], doc["run_id"], doc["path"]) == ("workflow", run.name, str(run))
    assert (doc["status"], doc["completed"], doc["total"]) == ("failed", 1, 3)
    assert (doc["current_step"], doc["current_step_name"]) == (1, "test")
    assert [s["status"] for s in doc["steps"]] == ["completed", "failed", "pending"]
    assert doc["steps"][1]["exit_code"] == 3
    assert "exit 3" in doc["steps"][1]["error"]
    assert doc["resume_command"] == f"invoke workflow --resume={run.name}"

    assert project.invoke("workflow", "--resume").code == 0
    doc = json.loads(project.invoke("workflow.status", "--json").out)
    assert (doc["status"], doc["completed"], doc["current_step"]) == ("completed", 3, None)
    assert doc["resume_command"] is None
    assert doc["finished_at"] is not None


def test_status_text_names_run_progress_and_steps(project: Project) -> None:
    """status prints run id, status, progress, current step and one row per step."""
    project.use("three_steps")
    empty = project.invoke("workflow.status")
    assert empty.code == 0
    assert "no runs" in empty.out
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    run = project.only_run()
    before = project.snapshot()
    text = project.invoke("workflow.status")
    assert text.code == 0, text.err
    assert run.name in text.out
    assert "failed" in text.out
    assert "1/3" in text.out
    assert "1 (test)" in text.out
    for name in ("lint", "test", "docs"):
        assert name in text.out
    assert f"invoke workflow --resume={run.name}" in text.out
    assert project.snapshot() == before


def test_status_run_picks_an_older_run(project: Project) -> None:
    """status --run=ID shows that run, not the latest."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    renamed = rename_run(project.only_run(), "workflow_20200101_000000")
    assert project.invoke("workflow").code == 0

    latest = json.loads(project.invoke("workflow.status", "--json").out)
    assert latest["status"] == "completed"
    chosen = json.loads(project.invoke("workflow.status", f"--run={renamed.name}", "--json").out)
    assert (chosen["run_id"], chosen["status"]) == (renamed.name, "failed")


def test_second_workflow_keeps_its_own_runs(project: Project, two_workflows: Path) -> None:
    """A workflow named release has its own run dirs, steps, status and resume."""
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    released = project.invoke("release")
    assert released.code == 0, released.err
    run = project.only_run("release")
    assert run.name.startswith("release_")
    cp = project.checkpoint(run)
    assert (cp["workflow"], cp["steps"], cp["status"]) == ("release", ["docs", "lint"], "completed")
    assert project.state(run, 0)["name"] == "docs"

    # `release --resume` looks at release runs only: its latest completed, nothing to do.
    again = project.invoke("release", "--resume")
    assert again.code == 0
    assert "already completed" in again.out
    status = json.loads(project.invoke("release.status", "--json").out)
    assert status["run_id"] == run.name
    # ... and `workflow --resume` still continues the failed workflow run.
    assert project.invoke("workflow", "--resume").code == 0
    assert project.checkpoint(project.only_run())["status"] == "completed"
    # Run ids of one workflow are refused by the other.
    cross = project.invoke("workflow", f"--resume={run.name}")
    assert cross.code == 2


def test_workflow_collection_from_a_package_tasks(project: Project) -> None:
    """A tasks/ package works too; the store lives beside the package."""
    (project.root / "tasks").mkdir()
    project.use("three_steps").rename(project.root / "tasks" / "__init__.py")
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    assert project.checkpoint(project.only_run())["status"] == "completed"


def test_output_piped_into_head_lets_the_run_finish_quietly(project: Project) -> None:
    """``invoke workflow | head -1``: once the reader is gone the run goes on to complete and
    exits 0, with no error per line (it used to print a BrokenPipeError for every hook) and
    no traceback at exit; a command's own output after that goes nowhere instead of failing."""
    steps = "\n".join(f"@task\ndef s{i}(c):\n    c.run('echo out-{i}')\n" for i in range(30))
    project.write(
        "from invoke import Collection, task\nfrom invoke_checkpoints import workflow\n\n"
        + steps
        + "\nns = Collection()\n"
        + f"ns.add_collection(workflow({', '.join(f's{i}' for i in range(30))}))\n"
    )
    proc = project.popen("workflow", stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith("workflow")  # `head -1`
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert "BrokenPipe" not in err and "Traceback" not in err, err
    assert project.checkpoint(project.only_run())["status"] == "completed"
