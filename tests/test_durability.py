"""What only the markers make durable, and how a run is rebuilt from them.

After a step only its marker is fsynced (unless the state file or checkpoint.json hold
something the markers cannot rebuild). A power cut may therefore leave, beside a durable
marker, the step's ``running`` state file, no state file at all, or an older checkpoint.json.
These tests build exactly those leftovers from a real run and check that ``status``,
``--resume`` and the final checkpoint.json treat the marked step as complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from invoke_checkpoints.store.history import eta_seconds, eta_table
from invoke_checkpoints.store.runs import Store

from .conftest import Project, log_lines


def _failed_run(project: Project) -> Path:
    """A run of ``silent_steps`` that failed at step 2 (ship) with exit 4."""
    project.use("silent_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 4
    run = project.only_run()
    assert project.markers(run) == [0, 1]
    return run


def _as_running(run: Path, step: int) -> None:
    """The state file as the ``running`` write left it, before the final one replaced it."""
    path = run / "state" / f"step_{step:02d}_state.json"
    state = json.loads(path.read_text())
    state.update(status="running", completed_at=None, duration_seconds=None, exit_code=None)
    path.write_text(json.dumps(state, indent=2) + "\n")


def _as_at_start(run: Path) -> None:
    """checkpoint.json as written when the run started (nothing complete yet)."""
    path = run / "checkpoint.json"
    cp = json.loads(path.read_text())
    cp.update(status="running", completed_steps=[], current_step=0, finished_at=None)
    cp["durations"] = {}
    path.write_text(json.dumps(cp, indent=2) + "\n")


@pytest.mark.parametrize("leftover", ["running", "missing", "empty", "failed-earlier"])
def test_marked_step_with_a_lost_state_file_is_complete(project: Project, leftover: str) -> None:
    run = _failed_run(project)
    marker = (run / "step_01.complete").read_text()
    duration = float(
        next(v for k, _, v in (x.partition("=") for x in marker.split()) if k == "DURATION_SECONDS")
    )
    path = run / "state" / "step_01_state.json"
    if leftover == "running":
        _as_running(run, 1)
    elif leftover == "missing":
        path.unlink()
    elif leftover == "empty":  # renamed into place, data never written (no fsync)
        path.write_bytes(b"")
    else:  # the fsynced state of an earlier, failed attempt
        state = json.loads(path.read_text())
        state.update(status="failed", exit_code=4, errors=["command 'exit 4' exited with 4"])
        path.write_text(json.dumps(state))
    _as_at_start(run)

    status = project.invoke("workflow.status", "--json")
    assert status.code == 0, status.err
    doc = json.loads(status.out)
    assert [s["status"] for s in doc["steps"]] == ["completed", "completed", "failed"]
    assert doc["steps"][1]["duration_seconds"] == duration  # from the marker
    assert doc["steps"][1]["error"] is None and doc["steps"][1]["exit_code"] == 0
    assert doc["completed"] == 2 and doc["current_step"] == 2

    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert log_lines(project) == ["fetch-ran", "build-ran", "ship-ran", "ship-ran"]
    cp = project.checkpoint(run)
    assert cp["status"] == "completed" and cp["completed_steps"] == [0, 1, 2]
    # Durations of the steps completed before the "power cut" are read back from the markers.
    assert set(cp["durations"]) == {"fetch", "build", "ship"}
    assert cp["durations"]["build"] == duration


def test_outputs_and_vars_are_in_files_a_marker_cannot_replace(project: Project) -> None:
    """A step with outputs keeps them in its state file; vars live in checkpoint.json."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    assert project.state(run, 0)["outputs"] == {"checked": 3}
    assert project.state(run, 2)["outputs"] == {"result": {"pages": 2}}
    assert project.checkpoint(run)["durations"].keys() == {"lint", "test", "docs"}


def test_an_empty_state_file_of_an_unmarked_step_runs_it_again(project: Project) -> None:
    run = _failed_run(project)
    (run / "state" / "step_02_state.json").write_bytes(b"")
    assert project.invoke("workflow.status").code == 0
    assert project.invoke("workflow", "--resume").code == 0
    assert log_lines(project) == ["fetch-ran", "build-ran", "ship-ran", "ship-ran"]


def test_vars_with_mixed_key_types_are_saved(project: Project) -> None:
    """A nested dict whose keys mix types is JSON (keys become strings); it must not crash."""
    project.write(
        """
        from invoke import Collection, task
        from invoke_checkpoints import current_step, workflow

        @task
        def one(c):
            current_step().run.vars["m"] = {1: "x", "b": 2}

        ns = Collection(one)
        ns.add_collection(workflow(one))
        """
    )
    done = project.invoke("workflow")
    assert done.code == 0, done.err
    assert project.checkpoint(project.only_run())["vars"] == {"m": {"1": "x", "b": 2}}


def test_timestamps_keep_four_digit_years() -> None:
    from datetime import datetime, timezone

    from invoke_checkpoints.store.reading import parse_timestamp
    from invoke_checkpoints.store.vocabulary import iso

    old = datetime(999, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert iso(old) == "0999-01-02T03:04:05Z"
    assert parse_timestamp(iso(old)) == old


def test_durations_are_written_when_the_run_stops(project: Project) -> None:
    run = _failed_run(project)
    cp = project.checkpoint(run)
    assert cp["status"] == "failed"
    assert set(cp["durations"]) == {"fetch", "build"}  # the failed step has no duration here


# -- finding runs without parsing them ----------------------------------------------------


def test_newest_orders_by_stamp_and_suffix_and_skips_strays(tmp_path: Path) -> None:
    root = tmp_path / "store"
    runs = ["w_20260101_000000", "w_20260101_000000_2", "w_20260101_000000_9"]
    runs += ["w_20260101_000000_10", "w_20251231_235959"]
    for name in runs:
        (root / name).mkdir(parents=True)
    (root / "w_20270101_000000").write_text("a file named like a run")
    (root / "w_20280101_000000_x").mkdir()  # not a run id
    (root / "w_docs_20290101_000000").mkdir()  # a run of workflow "w_docs"
    (root / "w_20300101_000000").symlink_to(root / "w_20260101_000000")
    store = Store(root)
    expected = ["w_20260101_000000_10", "w_20260101_000000_9", "w_20260101_000000_2"]
    assert store.newest("w", 3) == expected
    assert store.latest("w") == "w_20260101_000000_10"
    assert store.newest("w", 10) == [*expected, "w_20260101_000000", "w_20251231_235959"]
    assert store.newest("w", 10) == store.run_ids("w")[::-1]
    assert store.latest("w_docs") == "w_docs_20290101_000000"
    assert Store(tmp_path / "absent").latest("w") is None
    # Without stray names the latest run is found by plain string comparison.
    clean = tmp_path / "clean"
    for name in ("w_20260101_000000", "w_20260101_000000_9", "w_20260101_000000_10"):
        (clean / name).mkdir(parents=True)
    (clean / "w_20251231_235959_99").mkdir()
    assert Store(clean).latest("w") == "w_20260101_000000_10"


def test_eta_table_is_eta_seconds_of_every_suffix() -> None:
    steps = ("a", "b", "c", "d")
    for expected in ({"a": 1.0, "b": 2.0, "c": 4.0, "d": 8.0}, {"a": 1.0, "c": 4.0, "d": 8.0}):
        table = eta_table(expected, steps)
        assert table == [eta_seconds(expected, list(steps[i:]), 0.0) for i in range(len(steps))]
    assert eta_table({"a": 1.0, "c": 4.0, "d": 8.0}, steps) == [None, None, 12.0, 8.0]
