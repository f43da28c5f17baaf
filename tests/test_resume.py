"""Resuming: which run, which steps, --resume-from, and the checks made before anything runs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from .conftest import Project, log_lines, one_line, rename_run, run_files, store_files

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _failed_run(project: Project) -> Path:
    """A run of ``three_steps`` that failed at step 1 (test)."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    return project.only_run()


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("workflow", "--resume"), id="resume-flag"),
        pytest.param(("workflow.resume",), id="resume-task"),
    ],
)
def test_resume_runs_first_unmarked_step_and_all_after(
    project: Project, argv: tuple[str, ...]
) -> None:
    """Resume: same run dir, the failed step and the rest run; the marked step does not."""
    run = _failed_run(project)
    assert log_lines(project) == ["lint-ran", "test-ran"]
    resumed = project.invoke(*argv)
    assert resumed.code == 0, resumed.err
    assert project.only_run() == run
    assert log_lines(project) == ["lint-ran", "test-ran", "test-ran", "docs-ran"]
    assert project.markers(run) == [0, 1, 2]
    cp = project.checkpoint(run)
    assert cp["status"] == "completed"
    assert cp["completed_steps"] == [0, 1, 2]
    assert cp["current_step"] is None
    assert project.state(run, 0)["attempts"] == 1
    assert project.state(run, 1)["attempts"] == 2


def test_resume_after_repeated_failures_keeps_going(project: Project) -> None:
    """A step that fails again on resume stays failed; the next resume still continues there."""
    run = _failed_run(project)
    again = project.invoke("workflow", "--resume", env={"FAIL": "1", "FAIL_CODE": "4"})
    assert again.code == 4
    assert project.only_run() == run
    assert project.state(run, 1)["exit_code"] == 4
    assert project.checkpoint(run)["status"] == "failed"
    assert project.invoke("workflow", "--resume").code == 0
    assert log_lines(project) == ["lint-ran", "test-ran", "test-ran", "test-ran", "docs-ran"]


def test_marked_step_never_runs_again(project: Project) -> None:
    """With markers for steps 1 but not 0, resume runs 0 and 2 and never 1."""
    run = _failed_run(project)
    assert project.invoke("workflow", "--resume", env={"FAIL": ""}).code == 0
    (run / "step_00.complete").unlink()
    (run / "step_02.complete").unlink()
    cp = project.checkpoint(run)
    cp["status"] = "failed"
    (run / "checkpoint.json").write_text(json.dumps(cp))

    assert project.invoke("workflow", "--resume").code == 0
    assert log_lines(project) == [
        "lint-ran",
        "test-ran",
        "test-ran",
        "docs-ran",
        "lint-ran",
        "docs-ran",
    ]
    assert project.markers(run) == [0, 1, 2]


def test_resume_when_latest_completed_runs_nothing(project: Project) -> None:
    """--resume on a completed latest run says so, runs nothing, changes nothing, exit 0."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    before = run_files(run)
    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 0, outcome.err
    assert "already completed" in outcome.out
    assert run.name in outcome.out
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran"]
    assert project.runs() == [run]
    assert run_files(run) == before


def test_resume_without_any_run_starts_one(project: Project) -> None:
    """--resume with no run yet starts a new run and completes it."""
    project.use("three_steps")
    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 0, outcome.err
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "completed"
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran"]


def test_resume_continues_the_latest_run(project: Project) -> None:
    """With two failed runs, --resume continues the newer and leaves the older alone."""
    older = _failed_run(project)
    rename_run(older, "workflow_20200101_000000")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    older, newer = project.runs()
    before = run_files(older)
    assert project.invoke("workflow", "--resume").code == 0
    assert project.checkpoint(newer)["status"] == "completed"
    assert project.checkpoint(older)["status"] == "failed"
    assert run_files(older) == before


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("workflow", "--resume={run}"), id="resume-flag-with-id"),
        pytest.param(("workflow.resume", "--run={run}"), id="resume-task-with-run"),
    ],
)
def test_resume_by_id_picks_that_run(project: Project, argv: tuple[str, ...]) -> None:
    """--resume=ID and workflow.resume --run=ID continue the named (older) run."""
    older = _failed_run(project)
    older = rename_run(older, "workflow_20200101_000000")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    newer = project.runs()[-1]
    newer_before = run_files(newer)

    outcome = project.invoke(*(a.format(run=older.name) for a in argv))
    assert outcome.code == 0, outcome.err
    assert project.checkpoint(older)["status"] == "completed"
    assert project.markers(older) == [0, 1, 2]
    assert run_files(newer) == newer_before


@pytest.mark.parametrize(
    "target",
    [pytest.param("1", id="by-number"), pytest.param("test", id="by-name")],
)
def test_resume_from_reruns_completed_steps(project: Project, target: str) -> None:
    """--resume-from=N|name re-runs that step and all after it, in the same run."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    outcome = project.invoke("workflow", f"--resume-from={target}")
    assert outcome.code == 0, outcome.err
    assert project.runs() == [run]
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran", "test-ran", "docs-ran"]
    assert project.markers(run) == [0, 1, 2]
    assert project.checkpoint(run)["status"] == "completed"
    assert [project.state(run, n)["attempts"] for n in range(3)] == [1, 2, 2]


def test_resume_from_zero_with_id_reruns_everything(project: Project) -> None:
    """--resume=ID --resume-from=0 re-runs every step of that run."""
    run = _failed_run(project)
    outcome = project.invoke("workflow", f"--resume={run.name}", "--resume-from=0")
    assert outcome.code == 0, outcome.err
    assert log_lines(project) == ["lint-ran", "test-ran", "lint-ran", "test-ran", "docs-ran"]
    assert project.runs() == [run]


def test_resume_from_failure_drops_later_markers(project: Project) -> None:
    """When a re-run step fails, the steps after it have no marker any more."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    outcome = project.invoke("workflow", "--resume-from=test", env={"FAIL": "1"})
    assert outcome.code == 3
    assert project.markers(run) == [0]
    cp = project.checkpoint(run)
    assert cp["status"] == "failed"
    assert cp["completed_steps"] == [0]
    assert cp["current_step"] == 1
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran", "test-ran"]


def _edit_checkpoint(change: Callable[[dict[str, object]], object]) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        cp = json.loads((run / "checkpoint.json").read_text())
        change(cp)
        (run / "checkpoint.json").write_text(json.dumps(cp))

    return apply


def _write(text: str) -> Callable[[Path], None]:
    def apply(run: Path) -> None:
        (run / "checkpoint.json").write_text(text)

    return apply


def _remove_checkpoint(run: Path) -> None:
    (run / "checkpoint.json").unlink()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        pytest.param(_write("{not json"), "not valid JSON", id="not-json"),
        pytest.param(_write(""), "not valid JSON", id="empty-file"),
        pytest.param(_write("[1, 2]"), "JSON object", id="json-array"),
        pytest.param(_remove_checkpoint, "missing", id="file-missing"),
        pytest.param(_edit_checkpoint(lambda cp: cp.pop("steps")), "steps", id="field-missing"),
        pytest.param(
            _edit_checkpoint(lambda cp: cp.update(total_steps="three")),
            "total_steps",
            id="field-wrong-type",
        ),
        pytest.param(
            _edit_checkpoint(lambda cp: cp.update(version="2.0.0")), "2.0.0", id="major-version-2"
        ),
        pytest.param(
            _edit_checkpoint(lambda cp: cp.update(version="0.9.0")), "0.9.0", id="major-version-0"
        ),
        pytest.param(
            _edit_checkpoint(lambda cp: cp.update(version="banana")), "version", id="version-junk"
        ),
        pytest.param(
            _edit_checkpoint(lambda cp: cp.pop("version")), "version", id="version-missing"
        ),
        pytest.param(
            _edit_checkpoint(lambda cp: cp.update(workflow_id="workflow_20000101_000000")),
            "workflow_20000101_000000",
            id="id-differs-from-directory",
        ),
        pytest.param(
            _edit_checkpoint(lambda cp: cp.update(workflow="release")),
            "release",
            id="other-workflow",
        ),
    ],
)
def test_resume_refuses_bad_checkpoint(
    project: Project, damage: Callable[[Path], None], says: str
) -> None:
    """An unreadable or incompatible checkpoint: one line, exit 2, nothing run or changed."""
    run = _failed_run(project)
    damage(run)
    before = store_files(project)

    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 2
    line = one_line(outcome)
    assert says in line
    assert run.name in line
    assert store_files(project) == before
    assert log_lines(project) == ["lint-ran", "test-ran"]


@pytest.mark.parametrize(
    ("steps", "again"),
    [
        pytest.param("lint, test, docs, extra", "test, docs, extra", id="step-added"),
        pytest.param("lint, test", "test", id="step-removed"),
        pytest.param("lint, docs, test", "docs, test", id="steps-reordered"),
        pytest.param("lint, extra, docs", "extra, docs", id="step-replaced"),
    ],
)
def test_resume_of_changed_step_list_keeps_the_unchanged_prefix(
    project: Project, steps: str, again: str
) -> None:
    """A run recorded with other steps keeps its unchanged completed steps (here lint), says
    which run again, and records the new list."""
    run = _failed_run(project)
    project.edit("workflow(lint, test, docs)", f"workflow({steps})")
    project.edit("ns = Collection(", "@task\ndef extra(c):\n    pass\n\n\nns = Collection(")
    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 0, outcome.err
    assert f"keeping step 0 (completed; name, args and code unchanged); running again: {again}" in (
        outcome.out
    )
    assert log_lines(project).count("lint-ran") == 1
    assert project.checkpoint(run)["steps"] == ["lint", *again.split(", ")]


def test_resume_refuses_a_step_list_changed_at_step_0(project: Project) -> None:
    """Nothing to keep: one line says where the lists differ, nothing changes."""
    run = _failed_run(project)
    project.edit("workflow(lint, test, docs)", "workflow(test, lint, docs)")
    before = store_files(project)
    for argv in (("workflow", "--resume"), ("workflow", f"--resume={run.name}")):
        outcome = project.invoke(*argv)
        assert outcome.code == 2
        assert "differ at step 0" in one_line(outcome)
        assert store_files(project) == before
    assert log_lines(project) == ["lint-ran", "test-ran"]


def test_resume_refuses_corrupt_state_file_before_writing(project: Project) -> None:
    """A corrupt state file of the run: one line, exit 2, and checkpoint.json untouched."""
    run = _failed_run(project)
    (run / "state" / "step_01_state.json").write_text("{garbage")
    before = store_files(project)
    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 2
    assert "step_01_state.json" in one_line(outcome)
    assert store_files(project) == before
    assert log_lines(project) == ["lint-ran", "test-ran"]


def test_newer_minor_version_is_readable(project: Project) -> None:
    """Format 1.x with x > 0 (and unknown extra keys) still resumes."""
    run = _failed_run(project)
    _edit_checkpoint(lambda cp: cp.update(version="1.7.2", added_in_1_7={"x": 1}))(run)
    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 0, outcome.err
    assert project.checkpoint(run)["status"] == "completed"
    assert log_lines(project) == ["lint-ran", "test-ran", "test-ran", "docs-ran"]
