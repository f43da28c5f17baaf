"""Runs written by release 0.1.0 (format 1.0.0) still show in status and list, and resume.

``tests/fixtures/compat_1_0_0/`` holds that release's tasks.py and the store it wrote: run
``pipeline_20261130_111908`` failed at step 3 (deploy, exit 3: the file ``ok`` was missing),
``pipeline_20261130_111910`` completed. The files are kept byte for byte as the release wrote
them; never regenerate them with the current code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import Project, run_files

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "compat_1_0_0"
FAILED = "pipeline_20261130_111908"
COMPLETED = "pipeline_20261130_111910"
#: Retention (which compares the wall clock with run ids and checkpoint.json mtimes) is beside
#: the point here: keep a resume from cleaning the other run away.
NO_AUTO_CLEAN = {"INVOKE_CHECKPOINTS_AUTO_CLEAN": ""}


@pytest.fixture
def compat(project: Project) -> Project:
    """The release's tasks.py, and its store as ``.checkpoints`` with the store's private
    modes (0700 directories, 0600 files: what the release created, which git does not keep)."""
    shutil.copy(FIXTURE / "tasks.py", project.root / "tasks.py")
    shutil.copytree(FIXTURE / "store", project.store, copy_function=shutil.copy)
    for path in [project.store, *project.store.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    assert [p.name for p in project.runs("pipeline")] == [FAILED, COMPLETED]
    for run in project.runs("pipeline"):
        assert project.checkpoint(run)["version"] == "1.0.0"
    return project


def test_status_shows_the_failed_run(compat: Project) -> None:
    """status --run: failed, 3 of 4 steps, stopped at deploy with its exit code and error."""
    before = compat.snapshot()
    text = compat.invoke("pipeline.status", f"--run={FAILED}")
    assert text.code == 0, text.err
    assert FAILED in text.out
    assert "failed" in text.out
    assert "3/4" in text.out
    assert "3 (deploy)" in text.out
    assert "exited with code 3" in text.out
    assert "deploy broke" in text.out
    assert f"invoke pipeline --resume={FAILED}" in text.out

    doc = json.loads(compat.invoke("pipeline.status", f"--run={FAILED}", "--json").out)
    assert (doc["run_id"], doc["status"], doc["completed"], doc["total"]) == (
        FAILED,
        "failed",
        3,
        4,
    )
    assert (doc["current_step"], doc["current_step_name"]) == (3, "deploy")
    assert [s["status"] for s in doc["steps"]] == ["completed"] * 3 + ["failed"]
    assert doc["steps"][3]["exit_code"] == 3
    assert "deploy broke" in doc["steps"][3]["error"]
    assert compat.snapshot() == before


def test_list_shows_both_runs(compat: Project) -> None:
    """list: both runs, newest first, with their status and progress."""
    text = compat.invoke("pipeline.list")
    assert text.code == 0, text.err
    assert FAILED in text.out and COMPLETED in text.out
    doc = json.loads(compat.invoke("pipeline.list", "--json").out)
    rows = [(r["run_id"], r["status"], r["completed"], r["total"]) for r in doc["runs"]]
    assert rows == [(COMPLETED, "completed", 4, 4), (FAILED, "failed", 3, 4)]


def test_resume_of_the_completed_latest_run_does_nothing(compat: Project) -> None:
    """--resume picks the latest run, the completed one: nothing to do, nothing changed."""
    before = compat.snapshot()
    outcome = compat.invoke("pipeline", "--resume", env=NO_AUTO_CLEAN)
    assert outcome.code == 0, outcome.err
    assert "already completed" in outcome.out
    assert COMPLETED in outcome.out
    assert {k: v for k, v in compat.snapshot().items() if k in before} == before


def test_resume_runs_only_the_failed_step(compat: Project) -> None:
    """--resume=ID once ``ok`` exists: steps 0-2 are skipped as complete (their markers and
    state files untouched), deploy runs and completes, status then says completed."""
    run = compat.store / FAILED
    other = run_files(compat.store / COMPLETED)
    kept = [run / f"step_{n:02d}.complete" for n in range(3)]
    kept += [run / "state" / f"step_{n:02d}_state.json" for n in range(3)]
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in kept}
    (compat.root / "ok").touch()

    outcome = compat.invoke("pipeline", f"--resume={FAILED}", env=NO_AUTO_CLEAN)
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    for number, name in enumerate(["prepare", "unit", "lint"], start=1):
        assert f"[{number}/4] {name}: skipped (already_complete)" in lines, outcome.out
    assert any(line.startswith("[4/4] deploy: completed in ") for line in lines), outcome.out
    # Their `echo` never ran again (prefixed with the step's name: the run was --parallel).
    assert not {"unit", "lint", "[unit] unit", "[lint] lint"} & set(lines), outcome.out
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in kept} == before

    assert compat.markers(run) == [0, 1, 2, 3]
    cp = compat.checkpoint(run)
    assert (cp["status"], cp["completed_steps"], cp["current_step"]) == (
        "completed",
        [0, 1, 2, 3],
        None,
    )
    assert cp["vars"] == {"seen": ["prepare"]}
    deploy = compat.state(run, 3)
    assert (deploy["status"], deploy["exit_code"], deploy["attempts"]) == ("completed", 0, 2)
    assert deploy["outputs"] == {"result": {"target": "prod"}}
    assert run_files(compat.store / COMPLETED) == other

    text = compat.invoke("pipeline.status", f"--run={FAILED}")
    assert text.code == 0, text.err
    assert "completed" in text.out and "4/4" in text.out
    doc = json.loads(compat.invoke("pipeline.status", f"--run={FAILED}", "--json").out)
    assert (doc["status"], doc["completed"], doc["resume_command"]) == ("completed", 4, None)
    listed = json.loads(compat.invoke("pipeline.list", "--json").out)["runs"]
    assert [(r["run_id"], r["status"]) for r in listed] == [
        (COMPLETED, "completed"),
        (FAILED, "completed"),
    ]


@pytest.mark.parametrize("resumed", [False, True], ids=["as-written", "after-resume"])
def test_repair_finds_nothing_to_repair(compat: Project, resumed: bool) -> None:
    """repair --dry-run, of the latest run and of each by id: nothing to repair, no change."""
    if resumed:
        (compat.root / "ok").touch()
        assert compat.invoke("pipeline", f"--resume={FAILED}", env=NO_AUTO_CLEAN).code == 0
    before = compat.snapshot()
    for argv, run_id in [
        ((), COMPLETED),
        ((f"--run={FAILED}",), FAILED),
        ((f"--run={COMPLETED}",), COMPLETED),
    ]:
        outcome = compat.invoke("pipeline.repair", "--dry-run", *argv)
        assert outcome.code == 0, outcome.err
        assert f"run {run_id}: checkpoint.json is valid, nothing to repair" in outcome.out
    assert compat.snapshot() == before
