"""Findings of the second hostile review (issue #16's changes and older ones), each fixed."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from invoke_checkpoints.plugins.discovery import may_declare
from invoke_checkpoints.store.records import StepState
from invoke_checkpoints.store.vocabulary import StepStatus

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Project

OUTPUTS = """
from invoke import Collection, task
from invoke_checkpoints import current_step, workflow


@task
def a(c):
    current_step().outputs["v"] = "a1"


@task
def b(c):
    print("b sees", current_step().run.outputs_of("c"))


@task
def c(c_):
    current_step().outputs["v"] = "c1"


@task
def d(c_):
    print("d sees", current_step().run.outputs_of("c"))


ns = Collection(a, b, c, d)
ns.add_collection(workflow(a, b, c, d))
"""


@pytest.mark.parametrize("enabled", ["true", "false"])
def test_outputs_of_a_step_that_ran_later_is_not_stale(project: Project, enabled: str) -> None:
    """b asks for c's outputs before c ran: {}. d asks after: c's outputs, with or without
    checkpoints (before: {} both times, and always {} with checkpoints off)."""
    project.write(OUTPUTS)
    out = project.invoke("workflow", env={"INVOKE_CHECKPOINTS_ENABLED": enabled})
    assert out.code == 0, out.err
    assert "b sees {}" in out.out
    assert "d sees {'v': 'c1'}" in out.out


def test_to_dict_is_a_copy() -> None:
    """A plugin changing the dict it got does not change the state (pydantic's model_dump
    returned a copy too)."""
    state = StepState(step=0, name="a", status=StepStatus.COMPLETED, outputs={"x": [1]})
    doc = state.to_dict()
    doc["outputs"]["x"].append(2)
    doc["warnings"].append("w")
    assert state.outputs == {"x": [1]} and state.warnings == []


def _fail_once(project: Project) -> Path:
    project.write(
        """
        import os
        from invoke import Collection, task
        from invoke_checkpoints import workflow


        @task
        def first(c):
            pass


        @task
        def second(c):
            if not os.path.exists("ok"):
                raise SystemExit(3)


        ns = Collection(first, second)
        ns.add_collection(workflow(first, second))
        """
    )
    assert project.invoke("workflow").code == 3
    return project.only_run()


@pytest.mark.parametrize("command", [("workflow.status",), ("workflow", "--resume")])
def test_nan_written_into_a_state_file_is_one_line(
    project: Project, command: tuple[str, ...]
) -> None:
    run = _fail_once(project)
    path = run / "state" / "step_00_state.json"
    path.write_text(path.read_text().replace('"duration_seconds": 0', '"duration_seconds": NaN', 1))
    assert "NaN" in path.read_text()
    out = project.invoke(*command)
    assert out.code == 2, out
    assert "Traceback" not in out.err
    assert "step_00_state.json" in out.err and "NaN is not a JSON value" in out.err


@pytest.mark.parametrize("stamp", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_timestamp_out_of_range_in_utc_is_one_line(project: Project, stamp: str) -> None:
    run = _fail_once(project)
    path = run / "checkpoint.json"
    doc = json.loads(path.read_text())
    doc["started_at"] = stamp
    path.write_text(json.dumps(doc))
    for command in (("workflow.status",), ("workflow", "--resume")):
        out = project.invoke(*command)
        assert out.code == 2, out
        assert "Traceback" not in out.err
        assert "checkpoint.json: a value cannot be represented" in out.err


def test_an_upper_case_dist_info_still_declares_a_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    info = site / "epplug-1.0.DIST-INFO"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: epplug\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[invoke_checkpoints_case_test]\nepplug = epplug\n")
    monkeypatch.syspath_prepend(str(site))
    assert may_declare("invoke_checkpoints_case_test") is True
