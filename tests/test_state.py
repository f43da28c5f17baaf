"""What a step sees and saves: ``current_step()``, outputs, warnings, run vars, outputs_of."""

from __future__ import annotations

import json

import pytest

import invoke_checkpoints
from invoke_checkpoints import NotInStepError, current_step

from .conftest import Project


def _seen(project: Project) -> list[dict[str, object]]:
    lines = (project.root / "seen.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_step_sees_its_number_name_and_run(project: Project) -> None:
    """current_step() gives .number, .name and .run with .workflow_id and .path."""
    project.use("step_api")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    make, use, report = _seen(project)
    assert (make["step"], make["name"], use["step"], use["name"]) == (0, "make", 1, "use")
    assert report["step"] == 2
    assert make["id"] == use["id"] == run.name
    assert make["path"] == str(run)


def test_outputs_warnings_and_result_are_saved(project: Project) -> None:
    """.outputs and .warn() land in the state file; a JSON return value is outputs['result']."""
    project.use("step_api")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    state = project.state(run, 0)
    assert state["outputs"] == {
        "rows": 1200,
        "files": ["a.txt", "b.txt"],
        "result": {"path": "data.csv"},
    }
    assert state["warnings"] == ["3 rows dropped"]
    assert "result" not in project.state(run, 2)["outputs"]


def test_outputs_of_by_name_and_number(project: Project) -> None:
    """run.outputs_of('make') and run.outputs_of(0) return the saved outputs of step 0."""
    project.use("step_api")
    assert project.invoke("workflow").code == 0
    use = _seen(project)[1]
    expected = {"rows": 1200, "files": ["a.txt", "b.txt"], "result": {"path": "data.csv"}}
    assert use["by_name"] == expected
    assert use["by_number"] == expected


def test_failed_step_keeps_its_outputs_and_warnings(project: Project) -> None:
    """A step that fails still saves what it recorded before failing."""
    project.use("step_api")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 5
    state = project.state(project.only_run(), 1)
    assert state["status"] == "failed"
    assert state["outputs"] == {"before_failure": True}
    assert state["warnings"] == ["about to check"]


def test_vars_and_outputs_survive_a_resume(project: Project) -> None:
    """run.vars and earlier outputs are read back from disk by a resumed run."""
    project.use("step_api")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 5
    run = project.only_run()
    assert project.checkpoint(run)["vars"] == {"token_id": 7, "attempt": 1}

    assert project.invoke("workflow", "--resume").code == 0
    first_use, second_use, report = _seen(project)[1:]
    assert first_use["vars"] == {"token_id": 7}
    assert second_use["vars"] == {"token_id": 7, "attempt": 1}
    assert second_use["by_name"] == first_use["by_name"]
    assert report["vars"] == {"token_id": 7, "attempt": 2}
    assert report["use"] == {"before_failure": True}
    assert project.checkpoint(run)["vars"] == {"token_id": 7, "attempt": 2}


def test_non_json_values_are_saved_as_repr_with_warning(project: Project) -> None:
    """An output or var that is not JSON is kept as its repr and the step says so."""
    project.write(
        """
        from invoke import Collection, task
        from invoke_checkpoints import current_step, workflow

        @task
        def odd(c):
            current_step().outputs["when"] = {1, 2}
            current_step().run.vars["obj"] = complex(1, 2)

        ns = Collection(odd)
        ns.add_collection(workflow(odd))
        """
    )
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    state = project.state(run, 0)
    assert state["outputs"] == {"when": "{1, 2}"}
    assert any("when" in w for w in state["warnings"])
    cp = project.checkpoint(run)
    assert cp["vars"] == {"obj": "(1+2j)"}
    assert any("obj" in w for w in cp["warnings"])


def test_checkpoint_is_current_after_every_step_that_took_100_ms(project: Project) -> None:
    """A step of at least CHECKPOINT_INTERVAL (0.1 s): while step N runs, checkpoint.json
    already lists steps < N and points at N."""
    project.use("look_at_checkpoint")
    assert project.invoke("workflow", env={"SLOW_STEPS": "0.12"}).code == 0
    run = project.only_run()
    seen = [project.state(run, n)["outputs"] for n in range(3)]
    assert [s["completed"] for s in seen] == [[], [0], [0, 1]]
    assert [s["current"] for s in seen] == [0, 1, 2]
    assert [s["markers"] for s in seen] == [
        [],
        ["step_00.complete"],
        ["step_00.complete", "step_01.complete"],
    ]
    assert {s["status"] for s in seen} == {"running"}
    lasts = [s["last"] for s in seen] + [project.checkpoint(run)["last_checkpoint"]]
    assert lasts == sorted(lasts)


def test_fast_steps_leave_checkpoint_json_to_the_markers(project: Project) -> None:
    """Steps quicker than 0.1 s: checkpoint.json is not rewritten after each (the markers
    commit them), and it is brought up to date when the run stops."""
    project.use("look_at_checkpoint")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    seen = [project.state(run, n)["outputs"] for n in range(3)]
    # The markers are current at every step ...
    assert [len(s["markers"]) for s in seen] == [0, 1, 2]
    # ... checkpoint.json lags them (written at the start, not after each fast step) ...
    assert [s["completed"] for s in seen] == [[], [], []]
    # ... and says everything once the run has stopped.
    cp = project.checkpoint(run)
    assert (cp["status"], cp["completed_steps"], cp["current_step"]) == (
        "completed",
        [0, 1, 2],
        None,
    )


def test_pre_and_post_tasks_run_inside_their_step(project: Project) -> None:
    """A step's pre and post tasks run as part of it: same step number, before its marker."""
    project.use("pre_post")
    assert project.invoke("workflow", env={"FAIL_POST": "1"}).code == 4
    run = project.only_run()
    assert project.markers(run) == [0]
    assert project.state(run, 1)["status"] == "failed"
    assert "post task failed" in project.state(run, 1)["errors"][0]

    assert project.invoke("workflow", "--resume").code == 0
    lines = (project.root / "log.txt").read_text().split()
    assert lines == [
        "first:0:False",
        "setup:1:False",
        "second:1:False",
        "teardown:1:False",
        "setup:1:False",
        "second:1:False",
        "teardown:1:False",
    ]
    assert project.markers(run) == [0, 1]


def test_current_step_outside_a_step_raises() -> None:
    """Calling current_step() outside a workflow step raises NotInStepError."""
    with pytest.raises(NotInStepError, match="outside a workflow step"):
        current_step()
    assert issubclass(NotInStepError, invoke_checkpoints.CheckpointError)
