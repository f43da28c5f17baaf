"""Errors a user can cause: one line on stderr, no traceback, exit 2, and nothing touched."""

from __future__ import annotations

import pytest

from .conftest import Project, log_lines, one_line

BAD_IDS = [
    pytest.param("../x", id="parent-dir"),
    pytest.param("../../etc/passwd", id="deep-parent"),
    pytest.param("/etc/passwd", id="absolute-path"),
    pytest.param("/tmp/workflow_20250101_000000", id="absolute-valid-name"),
    pytest.param("workflow_20250101_000000/../../x", id="valid-prefix-then-traversal"),
    pytest.param("./workflow_20250101_000000", id="dot-slash"),
    pytest.param("junk", id="junk"),
    pytest.param("workflow_", id="name-only"),
    pytest.param("workflow_2025_01_01", id="wrong-shape"),
    pytest.param("workflow_20250101_000000_0", id="suffix-zero"),
    pytest.param("workflow_20250101_000000 ", id="trailing-space"),
    pytest.param("workflow_20250101_000000\n", id="trailing-newline"),
    pytest.param(
        "workflow_\u0662\u0660\u0662\u0665\u0660\u0661\u0660\u0661_000000", id="non-ascii-digits"
    ),
    pytest.param("release_20250101_000000", id="other-workflow"),
    pytest.param("workflow_" + "9" * 300, id="very-long"),
]

ENTRY_POINTS = [
    pytest.param(("workflow", "--resume={id}"), id="resume-flag"),
    pytest.param(("workflow", "--dry-run", "--resume={id}"), id="dry-run-resume"),
    pytest.param(("workflow.resume", "--run={id}"), id="resume-task"),
    pytest.param(("workflow.status", "--run={id}"), id="status"),
]


@pytest.mark.parametrize("argv", ENTRY_POINTS)
@pytest.mark.parametrize("run_id", BAD_IDS)
def test_bad_run_id_refused_before_touching_disk(
    project: Project, argv: tuple[str, ...], run_id: str
) -> None:
    """A malformed run id: one line, exit 2, and no store (or anything else) is created."""
    project.use("three_steps")
    outcome = project.invoke(*(a.format(id=run_id) for a in argv))
    assert outcome.code == 2, outcome
    assert "invalid run id" in one_line(outcome)
    assert sorted(p.name for p in project.root.iterdir()) == ["tasks.py"]
    assert not (project.root.parent / "x").exists()


def test_empty_resume_value_is_refused(project: Project) -> None:
    """`--resume=` with nothing after it is not a silent new run: one line, exit 2."""
    project.use("three_steps")
    outcome = project.invoke("workflow", "--resume=")
    assert outcome.code == 2
    assert "invalid run id" in one_line(outcome)
    assert not project.store.exists()
    assert log_lines(project) == []


def test_bad_run_id_in_existing_store_changes_nothing(project: Project) -> None:
    """With runs present, a traversal id still changes no file in the store."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    before = project.snapshot()
    outcome = project.invoke("workflow", "--resume=../proj/.checkpoints")
    assert outcome.code == 2
    one_line(outcome)
    assert project.snapshot() == before
    assert log_lines(project) == ["lint-ran", "test-ran"]


@pytest.mark.parametrize("argv", ENTRY_POINTS)
def test_unknown_run_is_one_line(project: Project, argv: tuple[str, ...]) -> None:
    """A well-formed id of a run that does not exist: one line naming it, exit 2."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    outcome = project.invoke(*(a.format(id="workflow_20200101_000000") for a in argv))
    assert outcome.code == 2
    line = one_line(outcome)
    assert "workflow_20200101_000000" in line
    assert len(project.runs()) == 1


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("nope", id="unknown-name"),
        pytest.param("3", id="number-past-end"),
        pytest.param("99", id="large-number"),
        pytest.param("-1", id="negative"),
    ],
)
def test_resume_from_unknown_step(project: Project, target: str) -> None:
    """--resume-from naming no step of the workflow: one line listing the steps, exit 2."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    before = project.snapshot()
    outcome = project.invoke("workflow", f"--resume-from={target}")
    assert outcome.code == 2
    line = one_line(outcome)
    assert "lint, test, docs" in line
    assert {k: v for k, v in project.snapshot().items() if ".lock" not in k} == {
        k: v for k, v in before.items() if ".lock" not in k
    }


def test_resume_from_without_any_run(project: Project) -> None:
    """--resume-from with no run to re-run: one line, exit 2, nothing created."""
    project.use("three_steps")
    outcome = project.invoke("workflow", "--resume-from=test")
    assert outcome.code == 2
    one_line(outcome)
    assert log_lines(project) == []
    assert not any(project.store.glob("workflow_*"))


def test_corrupt_run_status_is_one_line(project: Project) -> None:
    """status on a run whose checkpoint.json is corrupt: one line naming the file, exit 2."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    (run / "checkpoint.json").write_text("{")
    before = project.snapshot()
    for argv in (("workflow.status",), ("workflow.status", "--json")):
        outcome = project.invoke(*argv)
        assert outcome.code == 2
        assert "checkpoint.json" in one_line(outcome)
    assert project.snapshot() == before


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("workflow", "--resume=../x"), id="bad-run-id"),
        pytest.param(("workflow", "--resume=workflow_20200101_000000"), id="unknown-run"),
        pytest.param(("workflow", "--resume-from=nope"), id="unknown-step"),
    ],
)
def test_real_process_user_error_exit_2(project: Project, argv: tuple[str, ...]) -> None:
    """From a real invoke process: exit status 2, one line on stderr, nothing on stdout."""
    project.use("three_steps")
    outcome = project.run(*argv)
    assert outcome.code == 2, outcome
    assert one_line(outcome).startswith("invoke-checkpoints:")
    assert outcome.out == ""
    assert not any(project.store.glob("workflow_*"))
