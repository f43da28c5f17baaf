"""The core cycle end to end: fail, status, resume."""

from __future__ import annotations

from .conftest import Project, log_lines


def test_fail_then_resume_continues_at_failed_step(project: Project) -> None:
    """A failing step stops the run with its exit code; --resume runs only what is left."""
    project.use("three_steps")
    first = project.invoke("workflow", env={"FAIL": "1"})
    assert first.code == 3
    run = project.only_run()
    assert project.markers(run) == [0]
    assert project.checkpoint(run)["status"] == "failed"
    assert project.state(run, 1)["exit_code"] == 3

    second = project.invoke("workflow", "--resume")
    assert second.code == 0, second.err
    assert log_lines(project) == ["lint-ran", "test-ran", "test-ran", "docs-ran"]
    assert project.markers(run) == [0, 1, 2]
    assert project.checkpoint(run)["status"] == "completed"
    assert project.state(run, 2)["outputs"] == {"result": {"pages": 2}}
