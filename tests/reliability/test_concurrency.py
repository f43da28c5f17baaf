"""Concurrency: eight real invocations of one workflow at once; a SIGKILLed lock holder."""

from __future__ import annotations

import os
import signal
import time

import pytest

from ..conftest import Project, wait_for
from .conftest import one_line

#: A refused invocation answers within this (timed in-process: the lock attempt, no start-up).
REFUSAL_SECONDS = 1.0
#: Eight Python start-ups at once on a small shared machine take seconds of wall time by
#: themselves; from its own tasks.py import, a refused process exits well within this.
CONTENDED_SECONDS = 5.0


def _log(project: Project) -> list[tuple[str, int]]:
    path = project.root / "log.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(name, int(pid)) for name, pid in (line.split() for line in lines)]


@pytest.mark.slow
def test_eight_invocations_at_once_one_runs_the_others_are_refused(project: Project) -> None:
    project.use("holding")
    procs = [project.popen("workflow") for _ in range(8)]
    ended: dict[int, float] = {}
    latencies: list[float] = []

    def seven_refused() -> bool:
        for proc in procs:
            if proc.pid not in ended and proc.poll() is not None:
                ended[proc.pid] = time.time()
        return len(ended) >= 7

    wait_for(seven_refused, timeout=60, interval=0.01, what="seven invocations to be refused")
    running = [p for p in procs if p.poll() is None]
    assert len(running) == 1, [(p.pid, p.returncode) for p in procs]
    holder = running[0]
    wait_for(
        (project.root / f"started-{holder.pid}").exists,
        timeout=60,
        interval=0.01,
        proc=holder,
        what="the holder's step",
    )
    assert sorted(p.name for p in project.root.glob("started-*")) == [f"started-{holder.pid}"]
    run_id = project.only_run().name

    for proc in procs:
        if proc is holder:
            continue
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 2, (out, err)
        line = err.strip()
        assert len(line.splitlines()) == 1 and "Traceback" not in err, err
        assert line.startswith("invoke-checkpoints: workflow 'workflow' is already running"), line
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
    project.use("holding")
    holder = project.popen("workflow")
    wait_for(
        (project.root / f"started-{holder.pid}").exists,
        timeout=60,
        interval=0.01,
        proc=holder,
        what="the holder's step",
    )
    start = time.monotonic()
    refused = project.invoke("workflow", "--resume")
    elapsed = time.monotonic() - start
    assert refused.code == 2
    assert f"pid {holder.pid}" in one_line(refused)
    assert elapsed < REFUSAL_SECONDS, elapsed

    # The running state is written once the step has run 0.1 s: that attempt then counts.
    wait_for(
        lambda: any(project.store.glob("workflow_*/state/step_00_state.json")),
        timeout=10,
        what="the running state of the holder's step",
    )
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
