"""What the README and docs say the commands do, checked against what they do (issue 15).

Each test names the sentence it holds true: resume flags, ``clean --keep``, run ids checked
before the store exists, the ETA, the live line under NO_COLOR, warnings for typos.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess

import pytest

from .conftest import INVOKE, Project, age_run, one_line
from .test_realworld import SLOW_PRINTER

# -- `workflow.resume --run=ID` is `workflow --resume=ID`, with the same flags -----------------


def test_resume_task_takes_the_run_flags(project: Project) -> None:
    """--resume-from, --explain, --dry-run and --quiet work on workflow.resume as on --resume."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    run = project.only_run().name
    dry = project.invoke("workflow.resume", f"--run={run}", "--dry-run")
    assert dry.code == 0, dry.err
    assert re.search(r"^ +0 +lint +complete", dry.out, re.M), dry.out
    assert "test-ran" in (project.root / "log.txt").read_text()
    before = (project.root / "log.txt").read_text()
    out = project.invoke("workflow.resume", f"--run={run}", "--resume-from=lint", "--quiet")
    assert out.code == 0, out.err
    assert (project.root / "log.txt").read_text() == before + "lint-ran\ntest-ran\ndocs-ran\n"
    assert "[1/3] lint\n" not in out.out  # --quiet: only failures and the summary
    assert "workflow: completed" in out.out
    explained = project.invoke("workflow.resume", "--explain", "--resume-from=docs")
    assert explained.code == 0, explained.err
    assert re.search(r"^ +2 +docs +run", explained.out, re.M), explained.out


def test_resume_task_takes_parallel_and_refuses_contradictions(project: Project) -> None:
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    out = project.invoke("workflow.resume", "--parallel", "--max-workers=2")
    assert out.code == 0, out.err
    options = project.checkpoint(project.only_run())["options"]
    assert options["parallel"] is True and options["max_workers"] == 2
    bad = project.invoke("workflow.resume", "--smart", "--no-smart")
    assert bad.code == 2 and "contradict" in one_line(bad)


# -- clean: --keep alone, with --older-than and --all; negative values -------------------------


def _three_runs_one_old(project: Project) -> list[str]:
    project.use("three_steps")
    for _ in range(3):
        assert project.invoke("workflow", env={"INVOKE_CHECKPOINTS_AUTO_CLEAN": ""}).code == 0
    age_run(project.runs()[0], days=30)
    return [run.name for run in project.runs()]


def test_clean_keep_alone_never_removes_runs_inside_the_retention_period(
    project: Project,
) -> None:
    """--keep=1 alone: the retention policy decides, the newest run is protected from it."""
    old, recent, newest = _three_runs_one_old(project)
    out = project.invoke("workflow.clean", "--keep=1")
    assert out.code == 0, out.err
    assert [run.name for run in project.runs()] == [recent, newest]
    assert f"removed {old}" in out.out


def test_clean_keep_protects_the_newest_from_older_than_and_all(project: Project) -> None:
    _, recent, newest = _three_runs_one_old(project)
    recent = age_run(project.store / recent, days=20).name  # all three older than 10 days
    newest = age_run(project.store / newest, days=15).name
    assert project.invoke("workflow.clean", "--older-than=10", "--keep=2").code == 0
    assert [run.name for run in project.runs()] == [recent, newest]
    assert project.invoke("workflow.clean", "--all", "--keep=1").code == 0
    assert [run.name for run in project.runs()] == [newest]
    assert project.invoke("workflow.clean", "--all").code == 0
    assert project.runs() == []


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--keep=-1", "--keep must be >= 0, got -1"),
        ("--older-than=-3", "--older-than must be >= 0 days, got -3"),
        ("--keep=many", "--keep must be a whole number, got 'many'"),
        ("--older-than=soon", "--older-than must be a whole number, got 'soon'"),
    ],
)
def test_clean_refuses_negative_and_malformed_values(
    project: Project, flag: str, message: str
) -> None:
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    before = project.snapshot()
    out = project.run("workflow.clean", flag)
    assert out.code == 2
    assert out.err.strip() == f"invoke-checkpoints: {message}"
    assert project.snapshot() == before


def test_clean_help_shows_days_and_n(project: Project) -> None:
    project.use("three_steps")
    out = project.invoke("--help", "workflow.clean").out
    assert "[--older-than=DAYS] [--keep=N]" in out
    assert "--older-than=INT" in out and "--keep=INT" in out


# -- run ids are validated before anything touches the disk -----------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ("workflow", "--resume=workflow_20250101_120000"),
        ("workflow.resume", "--run=workflow_20250101_120000"),
        ("workflow", "--resume-from=1"),
        ("workflow", "--resume=not-a-run-id"),
        ("workflow.status", "--run=workflow_20250101_120000"),
        ("workflow.repair", "--run=workflow_20250101_120000"),
    ],
)
def test_unknown_run_in_a_fresh_project_writes_nothing(
    project: Project, argv: tuple[str, ...]
) -> None:
    """One line, exit 2, and no .checkpoints/ (no lock file) appears."""
    project.use("three_steps")
    out = project.run(*argv)
    assert out.code == 2, out
    assert one_line(out).startswith("invoke-checkpoints: ")
    assert sorted(p.name for p in project.root.iterdir()) == ["tasks.py"]


# -- the ETA with steps faster than a millisecond ----------------------------------------------

INSTANT = """
    from invoke import Collection, task

    from invoke_checkpoints import workflow


    @task
    def instant(c):
        pass


    @task
    def other(c):
        pass


    ns = Collection(instant, other)
    ns.add_collection(workflow(instant, other))
"""


def test_eta_shown_when_a_step_of_the_history_took_no_measurable_time(project: Project) -> None:
    """A step faster than the recorded resolution (a millisecond) is recorded as 0.0 s."""
    project.write(INSTANT)
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    doc = project.checkpoint(run)
    if 0.0 not in doc["durations"].values():
        # This machine took a millisecond or more for `pass`: record what a faster one does.
        doc["durations"]["instant"] = 0.0
        (run / "checkpoint.json").write_text(json.dumps(doc))
    second = project.invoke("workflow").out
    assert "[1/2] instant (ETA 0:00)" in second, second
    assert "[2/2] other (ETA 0:00)" in second, second


# -- NO_COLOR: colour off, the live line on -----------------------------------------------------


def _on_a_terminal(project: Project, env: dict[str, str]) -> tuple[int, str]:
    """Run ``invoke workflow`` with a pseudo-terminal as stdout and stderr."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*INVOKE, "workflow"],
        cwd=project.root,
        env=Project.env({"TERM": "xterm", **env}),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: every writer of the terminal is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_live_line_is_kept_under_no_color(project: Project) -> None:
    project.write(SLOW_PRINTER)
    code, text = _on_a_terminal(project, {"NO_COLOR": "1"})
    assert code == 0, text
    assert re.search(r"\r\x1b\[2K\[1/1\] slow: [0-9:]+ elapsed", text), text
    assert "\x1b[32m" not in text  # colour is off: "completed" is not painted green
    code, text = _on_a_terminal(project, {})
    assert code == 0 and "\x1b[32m" in text  # and on without NO_COLOR


# -- typos never go unnoticed ------------------------------------------------------------------


def test_unknown_checkpoints_environment_variable_is_warned_about(project: Project) -> None:
    project.use("three_steps")
    out = project.run("workflow", env={"INVOKE_CHECKPOINTS_FSYNCC": "0"})
    assert out.code == 0, out.err
    assert out.err.strip() == (
        "invoke-checkpoints: warning: INVOKE_CHECKPOINTS_FSYNCC is not a setting, ignored "
        "(did you mean INVOKE_CHECKPOINTS_FSYNC?)"
    )
    quiet = project.run("workflow.status", env={"INVOKE_CHECKPOINTS_FSYNC": "0"})
    assert quiet.err == ""


def test_unknown_plugin_in_disable_plugins_is_warned_about(project: Project) -> None:
    project.use("three_steps")
    project.write("checkpoints:\n  disable_plugins: [reportr, smart]\n", name="invoke.yaml")
    out = project.run("workflow")
    assert out.code == 0, out.err
    assert out.err.strip() == (
        "invoke-checkpoints: warning: checkpoints.disable_plugins names no plugin 'reportr', "
        "ignored (plugins: environment, reporter)"
    )
    assert json.loads(project.run("workflow.status", "--json").out)["status"] == "completed"
