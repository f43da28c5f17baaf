"""Parallel groups: numbering, concurrent execution, failure inside a group, resume, Ctrl-C."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import pytest

from .conftest import Project, log_lines, pid_gone, read_pid


@pytest.fixture
def group_project(project: Project) -> Project:
    """The fixture project ``group``: lint -> [unit, integration, docs] -> release."""
    project.use("group")
    return project


def test_group_steps_are_numbered_in_order(group_project: Project) -> None:
    """workflow(lint, [unit, integration, docs], release) numbers them 0..4."""
    assert group_project.invoke("workflow").code == 0
    cp = group_project.checkpoint(group_project.only_run())
    assert cp["steps"] == ["lint", "unit", "integration", "docs", "release"]
    assert cp["parallel_execution"]["groups"] == [{"steps": [1, 2, 3], "status": "completed"}]
    assert cp["parallel_execution"]["enabled"] is False
    assert log_lines(group_project) == ["lint", "unit", "integration", "docs", "release"]


def test_parallel_run_completes_every_step(group_project: Project) -> None:
    """--parallel runs the group; every step gets its marker; the option is recorded."""
    out = group_project.invoke("workflow", "--parallel")
    assert out.code == 0, out.err
    run = group_project.only_run()
    assert group_project.markers(run) == [0, 1, 2, 3, 4]
    cp = group_project.checkpoint(run)
    assert cp["execution_mode"]["parallel"] is True
    assert cp["options"]["parallel"] is True
    assert sorted(log_lines(group_project)) == ["docs", "integration", "lint", "release", "unit"]
    assert log_lines(group_project)[0] == "lint" and log_lines(group_project)[-1] == "release"


def test_parallel_output_lines_carry_the_step_name(group_project: Project) -> None:
    """Output of concurrent steps is attributable: print() and c.run() lines are prefixed."""
    out = group_project.run("workflow", "--parallel")
    assert out.code == 0, out.err
    lines = out.out.splitlines()
    assert "[unit] unit says hello" in lines
    assert "[unit] unit-shell-line" in lines


def test_failure_in_group_lets_the_others_finish(group_project: Project) -> None:
    """One failing step: the group's other steps complete, later steps do not run."""
    out = group_project.invoke("workflow", "--parallel", env={"FAIL": "1"})
    assert out.code == 5
    run = group_project.only_run()
    assert group_project.markers(run) == [0, 1, 3]
    cp = group_project.checkpoint(run)
    assert cp["status"] == "failed"
    assert cp["parallel_execution"]["groups"][0]["status"] == "failed"
    assert group_project.state(run, 2)["status"] == "failed"
    assert "release" not in log_lines(group_project)


def test_resume_runs_only_the_unfinished_steps_of_the_group(group_project: Project) -> None:
    """After a failure in a group, --resume runs the failed step and then goes on."""
    assert group_project.invoke("workflow", "--parallel", env={"FAIL": "1"}).code == 5
    before = log_lines(group_project)
    out = group_project.invoke("workflow", "--resume")
    assert out.code == 0, out.err
    assert log_lines(group_project)[len(before) :] == ["integration", "release"]
    cp = group_project.checkpoint(group_project.only_run())
    assert cp["status"] == "completed"
    assert cp["options"]["parallel"] is True  # restored from the run, not re-given
    assert cp["parallel_execution"]["groups"][0]["status"] == "completed"


def test_a_child_started_after_the_stop_is_stopped_too(project: Project) -> None:
    """SIGTERM while one step's runner has started its child but not registered it yet
    ($SLOW_REGISTER: unit's child runs 2 s before its runner returns from ``start()``)."""
    project.use("group")
    proc = project.popen("workflow", "--parallel", env={"WAIT": "1", "SLOW_REGISTER": "1"})
    try:
        for name in ("unit", "integration"):
            read_pid(project.root / f"{name}.pid", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)  # unit's child would otherwise sleep 30 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    run = project.only_run()
    assert project.state(run, 1)["status"] == "interrupted"
    assert "unit" not in log_lines(project)


#: tgkill(2) by machine: sends a signal to one thread of a process.
_TGKILL = {"x86_64": 234, "aarch64": 131}


def test_a_signal_delivered_to_a_worker_thread_stops_the_group(group_project: Project) -> None:
    """The kernel may hand a process's SIGTERM to any of its threads; the run must still stop
    at once (Python runs handlers in the main thread, which must not sleep in an untimed wait)."""
    nr = _TGKILL.get(os.uname().machine)
    if nr is None or not sys.platform.startswith("linux"):
        pytest.skip("tgkill is Linux-only here")
    libc = ctypes.CDLL(None, use_errno=True)
    proc = group_project.popen("workflow", "--parallel", env={"WAIT": "1"})
    try:
        for name in ("unit", "integration"):
            read_pid(group_project.root / f"{name}.pid", proc)
        tids = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
        assert tids, "no worker thread"
        assert libc.syscall(nr, proc.pid, tids[0], signal.SIGTERM) == 0, ctypes.get_errno()
        _, err = proc.communicate(timeout=20)  # the children would otherwise sleep 30 s
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    run = group_project.only_run()
    for step in (1, 2):
        assert group_project.state(run, step)["status"] == "interrupted"


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"]
)
def test_signal_during_group_stops_all_its_steps(
    group_project: Project, signum: int, code: int
) -> None:
    """A signal during a parallel group stops every running step's child; both interrupted."""
    proc = group_project.popen("workflow", "--parallel", env={"WAIT": "1"})
    try:
        for name in ("unit", "integration"):
            read_pid(group_project.root / f"{name}.pid", proc)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    run = group_project.only_run()
    for step in (1, 2):
        assert group_project.state(run, step)["status"] == "interrupted"
    assert group_project.checkpoint(run)["status"] == "interrupted"
    for name in ("unit", "integration"):
        pid = int((group_project.root / f"{name}.pid").read_text())
        assert pid_gone(pid, timeout=10), f"{name} child {pid} still alive"
    assert group_project.markers(run) == [0, 3]  # docs never waits, so it completed
