"""``invoke workflow.repair [--run=ID] [--dry-run]``: rebuild a damaged run, then resume it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import Project, log_lines, store_files
from .conftest import fail_once, one_line


def _kept(run: Path, name: str) -> list[Path]:
    return sorted(run.glob(f"{name}.corrupt-*")) + sorted(run.glob(f"state/{name}.corrupt-*"))


def _refused_pointing_to_repair(project: Project, run: Path) -> None:
    """The damaged run's error names the file and the repair command; nothing changes."""
    before = store_files(project)
    for argv in (("workflow", "--resume"), ("workflow.status",)):
        outcome = project.invoke(*argv)
        assert outcome.code == 2, (argv, outcome)
        assert f"`invoke workflow.repair --run={run.name}`" in one_line(outcome)
    assert store_files(project) == before


def _dry_run(project: Project, run: Path, says: str) -> None:
    before = store_files(project)
    dry = project.invoke("workflow.repair", "--dry-run")
    assert dry.code == 0, dry.err
    assert says in dry.out and "dry run: nothing was changed" in dry.out, dry.out
    assert store_files(project) == before


def _resume_finishes(project: Project, run: Path, expected_log: list[str]) -> None:
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert project.only_run() == run
    cp = project.checkpoint(run)
    assert (cp["status"], cp["completed_steps"], cp["current_step"]) == (
        "completed",
        [0, 1, 2],
        None,
    )
    assert project.markers(run) == [0, 1, 2]
    assert log_lines(project) == expected_log


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        pytest.param(lambda cp: cp.unlink(), "file is missing", id="missing"),
        pytest.param(lambda cp: cp.write_bytes(b"{\x00garbage"), "not valid JSON", id="garbage"),
        pytest.param(
            lambda cp: cp.write_bytes(cp.read_bytes()[: len(cp.read_bytes()) // 2]),
            "not valid JSON",
            id="torn",
        ),
        pytest.param(
            lambda cp: cp.write_text(json.dumps({**json.loads(cp.read_text()), "steps": 3})),
            "invalid field 'steps'",
            id="wrong-type",
        ),
    ],
)
def test_repair_rebuilds_checkpoint_json_and_resume_continues(
    project: Project, damage: Callable[[Path], object], says: str
) -> None:
    run = fail_once(project)
    original = project.checkpoint(run)
    damage(run / "checkpoint.json")
    damaged = (run / "checkpoint.json").read_bytes() if (run / "checkpoint.json").exists() else None
    _refused_pointing_to_repair(project, run)
    _dry_run(project, run, says)

    repaired = project.invoke("workflow.repair", f"--run={run.name}")
    assert repaired.code == 0, repaired.err
    assert f"rebuilt {run / 'checkpoint.json'}" in repaired.out
    assert "1/3 steps complete (from markers), status failed, next step 1" in repaired.out
    kept = _kept(run, "checkpoint.json")
    if damaged is None:
        assert kept == [] and "kept as" not in repaired.out
    else:
        assert [p.read_bytes() for p in kept] == [damaged]
        assert f"the damaged file is kept as {kept[0].name}" in repaired.out
    cp = project.checkpoint(run)
    for key in ("workflow_id", "workflow", "steps", "total_steps", "started_at"):
        assert cp[key] == original[key], key
    assert (cp["status"], cp["completed_steps"], cp["current_step"]) == ("failed", [0], 1)
    assert "rebuilt by repair" in cp["warnings"][-1] and says in cp["warnings"][-1]
    assert project.invoke("workflow.repair").out.strip().endswith("nothing to repair")

    _resume_finishes(project, run, ["lint", "test", "test", "docs"])


def test_repair_of_a_completed_run_keeps_it_completed(project: Project) -> None:
    run = fail_once(project)
    assert project.invoke("workflow", "--resume").code == 0
    (run / "checkpoint.json").write_bytes(b"")
    assert project.invoke("workflow.repair").code == 0
    assert project.checkpoint(run)["status"] == "completed"
    again = project.invoke("workflow", "--resume")
    assert again.code == 0 and "already completed" in again.out
    assert log_lines(project) == ["lint", "test", "test", "docs"]


def test_corrupt_marker_is_rewritten_from_its_completed_state(project: Project) -> None:
    run = fail_once(project)
    marker = run / "step_00.complete"
    good = marker.read_bytes()
    marker.write_bytes(b"STEP=0\nNAME=lint\n")  # torn: required fields missing
    _refused_pointing_to_repair(project, run)
    _dry_run(project, run, "rewrite it from step_00_state.json")
    assert project.invoke("workflow.repair").code == 0
    assert marker.read_bytes() == good  # the same facts, from the state file
    assert [p.read_bytes() for p in _kept(run, "step_00.complete")] == [b"STEP=0\nNAME=lint\n"]
    _resume_finishes(project, run, ["lint", "test", "test", "docs"])


def test_corrupt_marker_without_a_completed_state_is_moved_aside(project: Project) -> None:
    """Nothing confirms the step completed: its marker goes aside and the step runs again."""
    run = fail_once(project)
    (run / "state" / "step_00_state.json").unlink()
    (run / "step_00.complete").write_bytes(b"\x00\x00")
    _refused_pointing_to_repair(project, run)
    _dry_run(project, run, "step 0 will run again")
    assert project.invoke("workflow.repair").code == 0
    assert project.markers(run) == []
    assert project.checkpoint(run)["completed_steps"] == []
    assert [p.read_bytes() for p in _kept(run, "step_00.complete")] == [b"\x00\x00"]
    _resume_finishes(project, run, ["lint", "test", "lint", "test", "docs"])


def test_corrupt_state_file_is_moved_aside(project: Project) -> None:
    run = fail_once(project)
    state = run / "state" / "step_01_state.json"
    state.write_bytes(b'{"step": 1, "name": "test", "status": ')
    _refused_pointing_to_repair(project, run)
    _dry_run(project, run, "step_01_state.json")
    assert project.invoke("workflow.repair").code == 0
    assert not state.exists()
    assert len(_kept(run, "step_01_state.json")) == 1
    _resume_finishes(project, run, ["lint", "test", "test", "docs"])
    assert project.state(run, 1)["attempts"] == 1  # its history went with the damaged file


def test_marker_of_another_definition_is_not_repaired_from_this_one(project: Project) -> None:
    """checkpoint.json gone and the marker names another step: repair refuses, one line."""
    run = fail_once(project)
    (run / "checkpoint.json").unlink()
    marker = run / "step_00.complete"
    marker.write_text(marker.read_text().replace("NAME=lint", "NAME=format"))
    before = store_files(project)
    outcome = project.invoke("workflow.repair")
    assert outcome.code == 2
    assert "belongs to another definition" in one_line(outcome)
    assert store_files(project) == before


@pytest.mark.parametrize("fault", ["write:1", "rename:1", "dirsync:2"])
def test_repair_killed_midway_can_be_run_again(project: Project, fault: str) -> None:
    """SIGKILL inside repair's own writes (checkpoint.json, then the marker): the run stays
    refused-or-sound, and running repair again finishes the job."""
    run = fail_once(project)
    (run / "checkpoint.json").write_bytes(b"garbage")
    (run / "step_00.complete").write_bytes(b"garbage")
    killed = project.run("workflow.repair", env={"INVOKE_CHECKPOINTS_FAULT": fault})
    assert killed.code == -9, killed
    assert (run / "checkpoint.json").exists()  # never missing, even mid-repair
    again = project.invoke("workflow.repair")
    assert again.code == 0, again.err
    assert project.invoke("workflow.repair").out.strip().endswith("nothing to repair")
    # A kill after the damaged file was kept aside keeps it once more on the second try.
    assert {p.read_bytes() for p in _kept(run, "checkpoint.json")} == {b"garbage"}
    _resume_finishes(project, run, ["lint", "test", "test", "docs"])
