"""Concurrency: eight real invocations of one workflow at once; a SIGKILLed lock holder."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from ..conftest import Project
from .conftest import one_line

#: ``hold`` waits for a ``release`` file; every step appends ``<step> <pid>`` to log.txt; the
#: module notes when it was imported (``imported-<pid>``: seconds since the epoch), so a
#: refusal can be timed from inside the refused process, whatever its start-up cost.
HOLDING = """
    import os, time
    from pathlib import Path
    from invoke import Collection, task
    from invoke_checkpoints import workflow

    def _log(name):
        fd = os.open("log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(fd, f"{name} {os.getpid()}\\n".encode())
        os.close(fd)

    @task
    def hold(c):
        _log("hold")
        Path(f"started-{os.getpid()}").touch()
        deadline = time.monotonic() + 60
        while not Path("release").exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    @task
    def work(c):
        _log("work")

    @task
    def done(c):
        _log("done")

    ns = Collection(hold, work, done)
    ns.add_collection(workflow(hold, work, done))
    Path(f"imported-{os.getpid()}").write_text(repr(time.time()))
"""

#: A refused invocation answers within this (timed in-process: the lock attempt, no start-up).
REFUSAL_SECONDS = 1.0
#: Eight Python start-ups at once on a small shared machine take seconds of wall time by
#: themselves; from its own tasks.py import, a refused process exits well within this.
CONTENDED_SECONDS = 5.0


@contextlib.contextmanager
def _reaping(procs: list[subprocess.Popen[str]]) -> Iterator[None]:
    try:
        yield
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ValueError, OSError):
                proc.communicate(timeout=10)


def _wait(predicate: object, what: str, timeout: float = 60) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _log(project: Project) -> list[tuple[str, int]]:
    path = project.root / "log.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(name, int(pid)) for name, pid in (line.split() for line in lines)]


@pytest.mark.slow
def test_eight_invocations_at_once_one_runs_the_others_are_refused(project: Project) -> None:
    project.write(HOLDING)
    procs = [project.popen("workflow") for _ in range(8)]
    ended: dict[int, float] = {}
    latencies: list[float] = []
    with _reaping(procs):

        def seven_refused() -> bool:
            for proc in procs:
                if proc.pid not in ended and proc.poll() is not None:
                    ended[proc.pid] = time.time()
            return len(ended) >= 7

        _wait(seven_refused, "seven invocations to be refused")
        running = [p for p in procs if p.poll() is None]
        assert len(running) == 1, [(p.pid, p.returncode) for p in procs]
        holder = running[0]
        _wait((project.root / f"started-{holder.pid}").exists, "the holder's step")
        assert sorted(p.name for p in project.root.glob("started-*")) == [f"started-{holder.pid}"]
        run_id = project.only_run().name

        for proc in procs:
            if proc is holder:
                continue
            out, err = proc.communicate(timeout=10)
            assert proc.returncode == 2, (out, err)
            line = err.strip()
            assert len(line.splitlines()) == 1 and "Traceback" not in err, err
            assert line.startswith("invoke-checkpoints: workflow 'workflow' is already running"), (
                line
            )
            assert f"pid {holder.pid}" in line or "a run starting up" in line, line
            imported = float((project.root / f"imported-{proc.pid}").read_text())
            latencies.append(round(ended[proc.pid] - imported, 3))
            assert not (project.root / f"started-{proc.pid}").exists()

        # None of them waited for the lock: all seven ended while it was still held.
        assert holder.poll() is None
        assert max(latencies) < CONTENDED_SECONDS, latencies
        start = time.monotonic()
        refused = project.invoke("workflow")
        assert time.monotonic() - start < REFUSAL_SECONDS
        assert refused.code == 2 and f"pid {holder.pid}" in one_line(refused)

        (project.root / "release").touch()
        out, err = holder.communicate(timeout=60)
        assert holder.returncode == 0, err

    assert _log(project) == [("hold", holder.pid), ("work", holder.pid), ("done", holder.pid)]
    assert [p.name for p in project.runs()] == [run_id]
    assert project.checkpoint(project.only_run())["status"] == "completed"
    assert project.markers(project.only_run()) == [0, 1, 2]


@pytest.mark.slow
def test_sigkill_of_the_holder_frees_the_lock_at_once(project: Project) -> None:
    """While held, a second invocation is refused in well under a second (timed in-process);
    once the holder is SIGKILLed the very next invocation takes the lock and resumes."""
    project.write(HOLDING)
    holder = project.popen("workflow")
    with _reaping([holder]):
        _wait((project.root / f"started-{holder.pid}").exists, "the holder's step")
        start = time.monotonic()
        refused = project.invoke("workflow", "--resume")
        elapsed = time.monotonic() - start
        assert refused.code == 2
        assert f"pid {holder.pid}" in one_line(refused)
        assert elapsed < REFUSAL_SECONDS, elapsed

        os.killpg(holder.pid, signal.SIGKILL)
        holder.communicate(timeout=10)
        (project.root / "release").touch()
        resumed = project.invoke("workflow", "--resume")
        assert resumed.code == 0, resumed.err

    pid = os.getpid()
    assert _log(project) == [("hold", holder.pid), ("hold", pid), ("work", pid), ("done", pid)]
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "completed"
    assert project.state(run, 0)["attempts"] == 2
