"""Parallel groups: numbering, concurrent execution, failure inside a group, resume, Ctrl-C."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from .conftest import Project, log_lines

GROUP = """
    import os, time
    from pathlib import Path
    from invoke import Collection, task
    from invoke_checkpoints import Step, workflow

    def mark(name):
        with open("log.txt", "a") as f:
            f.write(name + "\\n")

    @task
    def lint(c):
        mark("lint")

    @task
    def unit(c):
        print("unit says hello")
        c.run("echo unit-shell-line")
        Path("unit.started").touch()
        if os.environ.get("WAIT"):
            c.run("echo $$ > unit.pid; exec sleep 30")
        mark("unit")

    @task
    def integration(c):
        Path("integration.started").touch()
        if os.environ.get("WAIT"):
            c.run("echo $$ > integration.pid; exec sleep 30")
        if os.environ.get("FAIL"):
            c.run("exit 5")
        mark("integration")

    @task
    def docs(c):
        mark("docs")

    @task
    def release(c):
        mark("release")

    ns = Collection(lint, unit, integration, docs, release)
    ns.add_collection(workflow(lint, [unit, integration, docs], release))
"""


@pytest.fixture
def group_project(project: Project) -> Project:
    project.write(GROUP)
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


def _wait(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


#: Appended to GROUP: with $SLOW_REGISTER, unit's `sleep 30` child runs 2 s before its runner
#: returns from Invoke's start() and registers: a worker thread descheduled there under load.
SLOW_REGISTER = """
    from invoke.runners import Local

    _start = Local.start

    def _late_start(self, command, shell, env):
        _start(self, command, shell, env)
        if "unit.pid" in command and os.environ.get("SLOW_REGISTER"):
            time.sleep(2)

    Local.start = _late_start
"""


def test_a_child_started_after_the_stop_is_stopped_too(project: Project) -> None:
    """SIGTERM while one step's runner has started its child but not registered it yet."""
    project.write(GROUP + SLOW_REGISTER)
    proc = project.popen("workflow", "--parallel", env={"WAIT": "1", "SLOW_REGISTER": "1"})
    try:
        for name in ("unit", "integration"):
            _wait(project.root / f"{name}.pid")
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
            _wait(group_project.root / f"{name}.pid")
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
            _wait(group_project.root / f"{name}.pid")
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
        deadline = time.monotonic() + 10
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, f"{name} child {pid} still alive"
            time.sleep(0.05)
    assert group_project.markers(run) == [0, 3]  # docs never waits, so it completed
