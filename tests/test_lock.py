"""One active run per workflow: a second invocation fails at once; a dead holder frees the lock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from .conftest import (
    Project,
    lock_is_free,
    log_lines,
    one_line,
    run_files,
    wait_for,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class Holder:
    """A real ``invoke workflow`` process blocked in step 1 until :meth:`finish` is called."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.proc = project.popen("workflow", env={"HOLD": "1"}, stdin=subprocess.DEVNULL)
        wait_for((project.root / "started").exists, proc=self.proc)
        self.run: Path = project.only_run()

    def finish(self) -> None:
        (self.project.root / "release").touch()
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, (out, err)


@pytest.fixture
def holder(project: Project) -> Iterator[Holder]:
    """A run of ``workflow`` that is active (its process holds the lock) during the test."""
    project.use("sleepy")
    active = Holder(project)
    yield active
    if active.proc.poll() is None:
        active.finish()


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(("workflow",), id="new-run"),
        pytest.param(("workflow", "--resume"), id="resume-latest"),
        pytest.param(("workflow", "--resume={run}"), id="resume-by-id"),
        pytest.param(("workflow.resume",), id="resume-task"),
        pytest.param(("workflow", "--resume-from=0"), id="resume-from"),
    ],
)
def test_second_invocation_fails_at_once_naming_active_run(
    project: Project, holder: Holder, argv: tuple[str, ...]
) -> None:
    """While a run is active, a second run or resume: one line with run, pid, host; exit 2."""
    before = run_files(holder.run)
    started = time.monotonic()
    second = project.invoke(*(a.format(run=holder.run.name) for a in argv))
    elapsed = time.monotonic() - started

    assert second.code == 2
    line = one_line(second)
    assert holder.run.name in line
    assert f"pid {holder.proc.pid}" in line
    assert socket.gethostname() in line
    assert elapsed < 5, "the second invocation must not wait for the lock"
    assert project.runs() == [holder.run]
    assert run_files(holder.run) == before
    assert log_lines(project) == ["first", "slow"]

    holder.finish()
    assert project.checkpoint(holder.run)["status"] == "completed"
    assert log_lines(project) == ["first", "slow", "last"]


def test_second_real_process_is_refused(project: Project, holder: Holder) -> None:
    """Lock contention between two real processes: the second exits 2 at once, one line."""
    second = project.run("workflow")
    assert second.code == 2, second
    line = one_line(second)
    assert holder.run.name in line
    assert str(holder.proc.pid) in line
    assert second.out == ""
    assert holder.proc.poll() is None, "the active run must be left alone"
    holder.finish()


def test_status_reports_the_active_run_as_running(project: Project, holder: Holder) -> None:
    """status of a run whose process is alive says running, with no resume command."""
    doc = json.loads(project.invoke("workflow.status", "--json").out)
    assert doc["run_id"] == holder.run.name
    assert doc["status"] == "running"
    assert doc["resume_command"] is None
    assert [s["status"] for s in doc["steps"]] == ["completed", "running", "pending"]


def test_other_workflow_runs_while_one_is_active(project: Project, holder: Holder) -> None:
    """The lock is per workflow: `release` runs while `workflow` is active."""
    other = project.invoke("release")
    assert other.code == 0, other.err
    release_run = project.only_run("release")
    assert project.checkpoint(release_run)["status"] == "completed"
    assert holder.proc.poll() is None
    holder.finish()


def test_lock_released_after_failure_and_success(project: Project) -> None:
    """A run that fails, and one that completes, both let the next invocation take the lock."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    assert lock_is_free(project.store / "workflow.lock")
    assert project.invoke("workflow", "--resume").code == 0
    assert lock_is_free(project.store / "workflow.lock")
    assert project.invoke("workflow").code == 0
    assert len(project.runs()) == 2


def test_leftover_lock_files_of_dead_process_do_not_block(project: Project) -> None:
    """Lock files naming a process that no longer exists are no obstacle."""
    project.use("sleepy")
    project.store.mkdir()
    (project.store / "workflow.lock").write_text("")
    holder_info = {"run_id": "workflow_20200101_000000", "pid": 2**22 - 1, "host": "elsewhere"}
    (project.store / "workflow.lock.json").write_text(json.dumps(holder_info))

    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    assert project.checkpoint(project.only_run())["status"] == "completed"
    recorded = json.loads((project.store / "workflow.lock.json").read_text())
    assert recorded["pid"] == os.getpid()
