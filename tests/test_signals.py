"""Ctrl-C, SIGTERM and SIGKILL against a real ``invoke`` process in the middle of a step."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from .conftest import Project, lock_is_free, log_lines, pid_gone, read_pid, wait_for


def _stop(
    project: Project, signum: signal.Signals, *, group: bool, stdin: int
) -> tuple[subprocess.Popen[str], str, str]:
    """Start ``invoke workflow`` with a sleeping step 1, signal it there, wait for it to end."""
    proc = project.popen("workflow", env={"SLOW": "1"}, stdin=stdin)
    wait_for((project.root / "started").exists, proc=proc)
    if group:
        os.killpg(proc.pid, signum)  # what a terminal does on Ctrl-C: the whole process group
    else:
        proc.send_signal(signum)  # `kill -INT pid` / `kill pid`: the invoke process alone
    out, err = proc.communicate(timeout=30)
    return proc, out, err


@pytest.mark.parametrize(
    ("signum", "group", "stdin", "code"),
    [
        pytest.param(signal.SIGINT, True, subprocess.PIPE, 130, id="ctrl-c-to-process-group"),
        pytest.param(signal.SIGINT, False, subprocess.PIPE, 130, id="sigint-to-process"),
        pytest.param(
            signal.SIGINT, False, subprocess.DEVNULL, 130, id="sigint-to-process-stdin-at-eof"
        ),
        pytest.param(signal.SIGTERM, False, subprocess.DEVNULL, 143, id="sigterm-to-process"),
        pytest.param(signal.SIGTERM, True, subprocess.DEVNULL, 143, id="sigterm-to-process-group"),
        pytest.param(signal.SIGHUP, False, subprocess.DEVNULL, 129, id="sighup-to-process"),
        pytest.param(signal.SIGHUP, True, subprocess.PIPE, 129, id="sighup-closed-terminal"),
        pytest.param(signal.SIGQUIT, False, subprocess.DEVNULL, 131, id="sigquit-to-process"),
    ],
)
def test_signal_during_step_records_interrupted_and_stops_child(
    project: Project, signum: signal.Signals, group: bool, stdin: int, code: int
) -> None:
    """The step and run say interrupted, the child is gone, the lock is free, exit 130/143."""
    project.use("sleepy")
    proc, out, err = _stop(project, signum, group=group, stdin=stdin)

    assert proc.returncode == code, (out, err)
    assert "Traceback" not in err
    child = int((project.root / "child.pid").read_text())
    assert pid_gone(child), f"child {child} of the interrupted step is still running"
    run = project.only_run()
    assert project.markers(run) == [0]
    cp = project.checkpoint(run)
    assert cp["status"] == "interrupted"
    assert cp["completed_steps"] == [0]
    assert cp["current_step"] == 1
    state = project.state(run, 1)
    assert state["status"] == "interrupted"
    assert state["exit_code"] == code
    assert state["errors"]
    assert not (run / "state" / "step_02_state.json").exists()
    assert log_lines(project) == ["first", "slow"]
    assert lock_is_free(project.store / "workflow.lock")


def test_interrupted_run_resumes_at_interrupted_step(project: Project) -> None:
    """After Ctrl-C, --resume continues the same run at the interrupted step."""
    project.use("sleepy")
    proc, _, _ = _stop(project, signal.SIGINT, group=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 130
    run = project.only_run()

    status = project.invoke("workflow.status", "--json")
    assert status.code == 0, status.err
    doc = json.loads(status.out)
    assert doc["status"] == "interrupted"
    assert doc["current_step"] == 1
    assert doc["resume_command"] == f"invoke workflow --resume={run.name}"

    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert project.only_run() == run
    assert log_lines(project) == ["first", "slow", "slow", "last"]
    assert project.markers(run) == [0, 1, 2]
    assert project.checkpoint(run)["status"] == "completed"
    assert project.state(run, 1)["attempts"] == 2


@pytest.mark.parametrize(
    ("signum", "code"),
    [
        pytest.param(signal.SIGINT, 130, id="sigint"),
        pytest.param(signal.SIGTERM, 143, id="sigterm"),
    ],
)
def test_signal_during_pure_python_step(
    project: Project, signum: signal.Signals, code: int
) -> None:
    """A step with no child process is interrupted too: recorded, exit 130/143."""
    project.use("python_sleeper")
    proc = project.popen("workflow", env={"SLOW": "1"}, stdin=subprocess.DEVNULL)
    wait_for((project.root / "started").exists, proc=proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)

    assert proc.returncode == code, (out, err)
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "interrupted"
    assert project.state(run, 1)["status"] == "interrupted"
    assert project.markers(run) == [0]
    assert log_lines(project) == ["first", "compute"]


def test_sigkill_leaves_resumable_run_and_no_stale_lock(project: Project) -> None:
    """After SIGKILL, the step's child dies with its parent (Linux: a parent-death signal),
    status says interrupted, the lock is free at once, --resume continues."""
    project.use("sleepy")
    proc = project.popen("workflow", env={"SLOW": "1"}, stdin=subprocess.DEVNULL)
    wait_for((project.root / "started").exists, proc=proc)
    child = int((project.root / "child.pid").read_text())
    try:
        proc.kill()
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        run = project.only_run()
        # Nothing could record the kill: the file still says running ...
        assert project.checkpoint(run)["status"] == "running"
        # ... the child did not outlive its parent (a zombie until init reaps it), and the
        # lock is free.
        if os.path.exists("/proc/self/stat"):
            assert wait_for(lambda: not _living(child), timeout=10)
        assert lock_is_free(project.store / "workflow.lock")

        status = project.invoke("workflow.status", "--json")
        assert status.code == 0, status.err
        doc = json.loads(status.out)
        assert doc["status"] == "interrupted"
        assert [s["status"] for s in doc["steps"]] == ["completed", "interrupted", "pending"]
        text = project.invoke("workflow.status")
        assert "interrupted" in text.out

        resumed = project.invoke("workflow", "--resume")
        assert resumed.code == 0, resumed.err
        assert project.only_run() == run
        assert log_lines(project) == ["first", "slow", "slow", "last"]
        assert project.markers(run) == [0, 1, 2]
        assert project.checkpoint(run)["status"] == "completed"
    finally:
        if not pid_gone(child, timeout=0):
            os.kill(child, signal.SIGKILL)  # the orphan this test's run left behind


def _living(pid: int) -> bool:
    """A living process: a zombie (dead, not yet reaped) is not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


@pytest.mark.parametrize(
    "pause_in",
    [
        pytest.param("create_io_threads", id="before-output-threads-start"),
        pytest.param("_finish", id="after-output-threads-start"),
    ],
)
@pytest.mark.parametrize(
    ("signum", "code"),
    [
        pytest.param(signal.SIGINT, 130, id="sigint"),
        pytest.param(signal.SIGTERM, 143, id="sigterm"),
    ],
)
def test_signal_while_command_is_starting_still_stops_child(
    project: Project, pause_in: str, signum: signal.Signals, code: int
) -> None:
    """A signal that lands before Invoke waits on the child still stops the child, at once."""
    project.use("early_signal")
    proc = project.popen("workflow", env={"PAUSE_IN": pause_in}, stdin=subprocess.DEVNULL)
    wait_for((project.root / "started").exists, proc=proc)
    child = read_pid(project.root / "child.pid", proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=20)

    assert proc.returncode == code, (out, err)
    assert pid_gone(child), f"child {child} of the interrupted step is still running"
    run = project.only_run()
    assert project.state(run, 0)["status"] == "interrupted"
    assert project.checkpoint(run)["status"] == "interrupted"
