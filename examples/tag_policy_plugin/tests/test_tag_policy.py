"""The tag policy in a run and in its plan, with the testing helper."""

from __future__ import annotations

from pathlib import Path

import pytest

from invoke_checkpoints.testing import WorkflowProject

TASKS = """
from invoke import Collection, task
from invoke_checkpoints import Step, workflow
import checkpoints_tag_policy

@task
def lint(c):
    pass

@task
def e2e(c):
    pass

@task
def docs(c):
    pass

ns = Collection()
ns.add_collection(workflow(
    Step(lint, tags={"fast"}), Step(e2e, tags={"slow"}), Step(docs, tags={"docs", "slow"}),
    plugins=[checkpoints_tag_policy],
))
"""


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ({"skip": ["slow"]}, [None, "tag policy: skip slow", "tag policy: skip slow"]),
        ({"skip": "docs, nothing"}, [None, None, "tag policy: skip docs"]),
        ({"only": ["fast"]}, [None, "tag policy: only fast", "tag policy: only fast"]),
        ({}, [None, None, None]),
    ],
    ids=["skip-list", "skip-string", "only", "no-policy"],
)
def test_steps_are_skipped_by_tag_in_the_run_and_the_plan(
    tmp_path: Path, policy: dict[str, object], expected: list[str | None]
) -> None:
    project = WorkflowProject(tmp_path)
    project.write(TASKS)
    project.configure(plugin_config={"tag_policy": policy})
    plan = project.run("workflow", "--dry-run")
    assert plan.code == 0, plan.err
    for name, reason in zip(["lint", "e2e", "docs"], expected, strict=True):
        line = next(line for line in plan.lines if f" {name} " in line)
        assert (f"skip ({reason})" in line) if reason else ("  run (" in line), line
    result = project.run()
    assert result.code == 0, result.err
    assert [result.states[n].get("reason") for n in range(3)] == expected
