"""Files written by a newer minor version of the format are read: unknown keys in a marker
are accepted like unknown keys of the JSON files (and ignored)."""

from __future__ import annotations

import json

from invoke_checkpoints.store.models import Marker
from invoke_checkpoints.store.reading import load_marker

from .conftest import Project, log_lines


def test_marker_with_unknown_keys_is_accepted(project: Project) -> None:
    project.use("fast_steps")
    (project.root / "fail").touch()
    assert project.invoke("workflow").code == 3
    (project.root / "fail").unlink()
    run = project.only_run()
    marker = run / "step_00.complete"
    marker.write_bytes(marker.read_bytes() + b"HOST_CPU=x86_64\nNOTE='from 1.1'\n")
    for argv in (("workflow.status", "--json"), ("workflow.list", "--json")):
        outcome = project.invoke(*argv)
        assert outcome.code == 0, (argv, outcome)
    status = json.loads(project.invoke("workflow.status", "--json").out)
    assert status["completed"] == 1 and status["status"] == "failed"
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert log_lines(project) == ["lint", "test", "test", "docs"]  # lint not run again


def test_fast_marker_reader_agrees_with_the_model() -> None:
    data = b"STEP=2\nNAME=build\nCOMPLETED_AT=2026-01-01T00:00:00Z\nDURATION_SECONDS=1.500\n"
    data += b"EXIT_CODE=0\nFUTURE_KEY='a b'\n"
    fast = load_marker(data, "m")
    model = Marker.from_text(data, source="m").model_dump(mode="json")
    assert fast == model
    assert fast["STEP"] == 2 and "FUTURE_KEY" not in fast
