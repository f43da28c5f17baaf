"""invoke-checkpoints-junit: a JUnit XML report of each run, written at ``workflow_finish``.

The report lists every step of the run; a step's outcome is its latest state
(``run.state_of``), so a resumed run reports the steps of its earlier sessions too.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

from invoke_checkpoints import StepStatus, hookimpl

if TYPE_CHECKING:
    from invoke_checkpoints import RunInfo, StepInfo

__all__ = ["NAME", "report_path"]

#: The plugin's name and its ``checkpoints.plugin_config`` section.
NAME = "junit"
#: Tags seen per step, by step number (``RunInfo`` has names only).
_TAGS: dict[int, frozenset[str]] = {}


def report_path(run: RunInfo) -> Path | None:
    """``plugin_config.junit.path`` (relative to the working directory), else ``junit.xml``
    in the run directory; ``None`` when there is nowhere to write."""
    configured = run.config(NAME).get("path")
    if configured:
        return Path(str(configured)).expanduser().resolve()
    return run.path / "junit.xml" if run.path is not None else None


@hookimpl
def checkpoints_step_start(step: StepInfo) -> None:
    _TAGS[step.number] = step.tags


@hookimpl
def checkpoints_step_skipped(step: StepInfo) -> None:
    _TAGS[step.number] = step.tags


@hookimpl
def checkpoints_workflow_finish(run: RunInfo, status: str) -> None:
    path = report_path(run)
    if path is None:
        return
    suite = ET.Element("testsuite", name=run.name, timestamp=run.started_at.isoformat())
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    total = 0.0
    for number, name in enumerate(run.steps):
        state = run.state_of(number)
        case = ET.SubElement(suite, "testcase", classname=run.name, name=name)
        counts["tests"] += 1
        seconds = (state.duration_seconds or 0.0) if state is not None else 0.0
        total += seconds
        case.set("time", f"{seconds:.3f}")
        if _TAGS.get(number):
            properties = ET.SubElement(case, "properties")
            for tag in sorted(_TAGS[number]):
                ET.SubElement(properties, "property", name="tag", value=tag)
        if state is None:
            ET.SubElement(case, "skipped", message="not run")
            counts["skipped"] += 1
        elif state.status is StepStatus.SKIPPED:
            ET.SubElement(case, "skipped", message=state.reason or "skipped")
            counts["skipped"] += 1
        elif state.status in (StepStatus.FAILED, StepStatus.INTERRUPTED):
            failure = ET.SubElement(
                case, "failure", message=f"{state.status.value} (exit {state.exit_code})"
            )
            failure.text = "\n".join(state.errors)
            counts["failures"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{total:.3f}")
    _write(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")


def _write(path: Path, text: str) -> None:
    """Atomically: a CI job reading the report never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
