"""Observing and maintaining runs: list, clean, retention, progress output, ETA."""

from __future__ import annotations

import json
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoke_checkpoints.store.history import eta_seconds, expected_durations, median
from invoke_checkpoints.store.runs import Store

from .conftest import Project, age_run, wait_for

LIST_KEYS = {
    "run_id",
    "status",
    "started_at",
    "finished_at",
    "duration_seconds",
    "completed",
    "total",
    "size_bytes",
    "reason",
}


def test_list_json_pins_keys_and_order(project: Project) -> None:
    """`list --json` is one document: workflow, store, runs newest first with fixed keys."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    out = project.invoke("workflow.list", "--json")
    doc = json.loads(out.out)
    assert set(doc) == {"workflow", "store", "runs"}
    assert [set(r) for r in doc["runs"]] == [LIST_KEYS, LIST_KEYS]
    assert [r["status"] for r in doc["runs"]] == ["failed", "completed"]
    assert [(r["completed"], r["total"]) for r in doc["runs"]] == [(1, 3), (3, 3)]
    assert all(r["size_bytes"] > 0 for r in doc["runs"])


def test_list_reports_corrupt_run_without_crashing(project: Project) -> None:
    """A run whose checkpoint.json is garbage is listed as corrupt with the reason."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    (run / "checkpoint.json").write_bytes(b"{not json")
    out = project.invoke("workflow.list")
    assert out.code == 0, out.err
    assert "corrupt" in out.out
    assert "not valid JSON" in out.out
    assert (run / "checkpoint.json").read_bytes() == b"{not json"


def test_list_shows_killed_run_as_interrupted(project: Project) -> None:
    """A run whose process died (status running on disk, lock free) lists as interrupted."""
    project.use("sleepy")
    proc = project.popen("workflow", env={"HOLD": "1"})
    wait_for((project.root / "started").exists, proc=proc)
    proc.kill()
    proc.communicate(timeout=10)
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "running"
    doc = json.loads(project.invoke("workflow.list", "--json").out)
    assert doc["runs"][0]["status"] == "interrupted"


def test_list_limits_to_twenty_unless_all(project: Project) -> None:
    """Without --all only the 20 most recent runs are listed."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    for n in range(2, 23):
        target = run.with_name(f"{run.name}_{n}")
        target.mkdir()
        for item in run.rglob("*"):
            dest = target / item.relative_to(run)
            if item.is_dir():
                dest.mkdir(exist_ok=True)
            else:
                text = item.read_text().replace(run.name, target.name)
                dest.write_text(text)
    short = json.loads(project.invoke("workflow.list", "--json").out)["runs"]
    full = json.loads(project.invoke("workflow.list", "--all", "--json").out)["runs"]
    assert len(short) == 20
    assert len(full) == 22
    assert short[0]["run_id"] == f"{run.name}_22"


def test_clean_removes_old_runs_by_retention(project: Project) -> None:
    """With no option, clean removes runs older than checkpoints.retention_days only."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    age_run(project.only_run(), days=10)
    assert project.invoke("workflow", env={"INVOKE_CHECKPOINTS_AUTO_CLEAN": ""}).code == 0
    assert len(project.runs()) == 2
    dry = project.invoke("workflow.clean", "--dry-run")
    assert "would remove 1 run(s)" in dry.out
    assert len(project.runs()) == 2
    out = project.invoke("workflow.clean")
    assert out.code == 0, out.err
    assert len(project.runs()) == 1


def test_clean_keep_and_all(project: Project) -> None:
    """--keep=N keeps the newest N from what else would go; --all removes every run."""
    project.use("three_steps")
    for _ in range(3):
        assert project.invoke("workflow").code == 0
    newest = project.runs()[-1]
    assert project.invoke("workflow.clean", "--keep=1").code == 0
    assert len(project.runs()) == 3  # alone: the retention period (7 days) keeps all three
    assert project.invoke("workflow.clean", "--older-than=0", "--keep=1").code == 0
    assert project.runs() == [newest]
    assert project.invoke("workflow.clean", "--all").code == 0
    assert project.runs() == []


def test_clean_never_removes_the_active_run(project: Project) -> None:
    """A run whose lock is held by a live process survives clean --all."""
    project.use("sleepy")
    proc = project.popen("workflow", env={"HOLD": "1"})
    try:
        wait_for((project.root / "started").exists, proc=proc)
        out = project.invoke("workflow.clean", "--all")
        assert out.code == 0, out.err
        assert "running now" in out.out
        assert len(project.runs()) == 1
    finally:
        (project.root / "release").touch()
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_clean_refuses_corrupt_run_and_removes_nothing(project: Project) -> None:
    """A corrupt run selected for removal stops clean with one line, exit 2, nothing deleted."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    assert project.invoke("workflow").code == 0
    (project.runs()[0] / "checkpoint.json").write_text("[]")
    before = project.snapshot()
    out = project.invoke("workflow.clean", "--all")
    assert out.code == 2
    assert "checkpoint.json" in out.err and "nothing was removed" in out.err
    assert len(out.err.strip().splitlines()) == 1
    assert project.snapshot() == before


def test_new_run_applies_retention_but_spares_resumed_run(project: Project) -> None:
    """Each run applies the policy; the run being resumed is never touched, however old."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    age_run(project.only_run(), days=30)
    old = project.only_run()
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert old.exists()
    age_run(old, days=30)  # resuming made it recent again; age it once more
    aged = project.only_run()
    out = project.invoke("workflow")
    assert out.code == 0
    assert "removed 1 run(s) older than 7 days" in out.out
    assert not aged.exists()
    assert len(project.runs()) == 1


def test_auto_clean_can_be_switched_off(project: Project) -> None:
    """checkpoints.auto_clean: false keeps old runs when a new one starts."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    age_run(project.only_run(), days=30)
    assert project.invoke("workflow", env={"INVOKE_CHECKPOINTS_AUTO_CLEAN": ""}).code == 0
    assert len(project.runs()) == 2


def test_progress_lines_and_summary(project: Project) -> None:
    """Each step prints a start and an end line; a failed run ends with the resume command."""
    project.use("three_steps")
    out = project.invoke("workflow", env={"FAIL": "1"})
    lines = out.out.splitlines()
    assert "[1/3] lint" in lines
    assert any(line.startswith("[1/3] lint: completed in ") for line in lines)
    assert any(
        line.startswith("[2/3] test: failed after ") and "(exit 3)" in line for line in lines
    )
    run = project.only_run()
    assert lines[-1] == f"resume with: invoke workflow --resume={run.name}"
    resumed = project.invoke("workflow", "--resume").out
    assert "[1/3] lint: skipped (already_complete)" in resumed


def test_quiet_prints_only_failures_and_summary(project: Project) -> None:
    """--quiet drops start/end lines of successful steps but keeps the failure and summary."""
    project.use("three_steps")
    out = project.invoke("workflow", "--quiet", env={"FAIL": "1"}).out
    assert "[1/3] lint" not in out.splitlines()
    assert "lint: completed" not in out
    assert "[2/3] test: failed" in out
    assert "workflow: failed" in out and "workflow workflow" not in out


def test_eta_comes_from_earlier_completed_runs(project: Project) -> None:
    """No history, no ETA; after a completed run, the start lines carry one."""
    project.use("three_steps")
    first = project.invoke("workflow").out
    assert "ETA" not in first
    second = project.invoke("workflow").out
    assert "[1/3] lint (ETA " in second
    expected = expected_durations(Store(project.store), "workflow")
    assert set(expected) == {"lint", "test", "docs"}


@pytest.mark.parametrize(
    ("remaining", "elapsed", "eta"),
    [
        (["a", "b"], 0.0, 30.0),
        (["a", "b"], 5.0, 25.0),
        (["a", "b"], 50.0, 20.0),
        (["a", "c"], 0.0, None),
        ([], 0.0, None),
    ],
    ids=["fresh", "partway", "overdue-step", "unknown-step", "nothing-left"],
)
def test_eta_arithmetic(remaining: list[str], elapsed: float, eta: float | None) -> None:
    """The ETA sums the remaining steps' history and never guesses for an unknown step."""
    assert eta_seconds({"a": 10.0, "b": 20.0}, remaining, elapsed) == eta


def test_status_shows_duration_size_error_and_resume(project: Project) -> None:
    """status gives duration, size on disk, the failed step's exit code and error tail."""
    project.use("three_steps")
    project.invoke("workflow", env={"FAIL": "1"})
    out = project.invoke("workflow.status").out
    assert "size on disk:" in out
    assert "duration:" in out
    assert "exited with code 3" in out
    assert f"invoke workflow --resume={project.only_run().name}" in out


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=30))
def test_median_is_statistics_median(values: list[float]) -> None:
    """The ETA's and the report's median, kept free of the statistics import."""
    assert median(values) == statistics.median(values)
