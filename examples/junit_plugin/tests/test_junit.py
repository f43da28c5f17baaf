"""The JUnit exporter over a failed run and its resume, with the testing helper."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from invoke_checkpoints.testing import WorkflowProject

TASKS = """
import os
from invoke import Collection, task
from invoke_checkpoints import Step, workflow
import checkpoints_junit

@task
def build(c):
    pass

@task
def test(c):
    if os.environ.get("FAIL"):
        c.run("exit 3")

@task
def docs(c):
    pass

ns = Collection()
ns.add_collection(workflow(build, Step(test, tags={"slow"}), docs, plugins=[checkpoints_junit]))
"""


def cases(path: Path) -> list[tuple[str, str]]:
    suite = ET.parse(path).getroot()
    out = []
    for case in suite.iter("testcase"):
        outcome = next((child.tag for child in case if child.tag != "properties"), "passed")
        out.append((case.get("name", ""), outcome))
    return out


def test_a_failed_run_then_its_resume(tmp_path: Path) -> None:
    """First report: build passed, test failed, docs not run; after --resume all passed."""
    project = WorkflowProject(tmp_path)
    project.write(TASKS)
    first = project.run(env={"FAIL": "1"})
    assert first.code == 3
    assert first.run_dir is not None
    report = first.run_dir / "junit.xml"
    assert cases(report) == [("build", "passed"), ("test", "failure"), ("docs", "skipped")]
    suite = ET.parse(report).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    tags = [p.get("value") for p in suite.iter("property")]
    assert tags == ["slow"]
    resumed = project.run("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert cases(report) == [("build", "passed"), ("test", "passed"), ("docs", "passed")]


def test_the_report_path_comes_from_plugin_config(tmp_path: Path) -> None:
    """``checkpoints.plugin_config.junit.path``."""
    project = WorkflowProject(tmp_path)
    project.write(TASKS)
    project.configure(plugin_config={"junit": {"path": "reports/wf.xml"}})
    assert project.run().code == 0
    assert cases(tmp_path / "reports" / "wf.xml")[0] == ("build", "passed")
