"""A run started on one machine resumes on another, through a real S3 server (issue #17).

Two "machines" are two project directories with their own HOME and caches sharing one bucket
prefix; the server is moto's, single-threaded, on 127.0.0.1 (``remote_support.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING

import pytest

from .conftest import Project, one_line, wait_for
from .remote_support import Bucket, Machine, have_s3

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

pytestmark = pytest.mark.skipif(
    not have_s3(), reason="needs the s3 and test extras (obstore, moto)"
)


def _started(machine: Machine) -> bool:
    return any(p.name.startswith("started-") for p in machine.root.iterdir())


def test_a_failed_run_resumes_on_another_machine(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a, b = machines("a"), machines("b")
    # The CI recipe: every attempt of CI run 7 runs `invoke workflow --resume --run-key=7`.
    failed = a.run("workflow", "--resume", "--run-key=ci-7", env={"MIDDLE": "fail"})
    assert failed.code == 3, failed.err
    run = bucket.only_run()
    assert bucket.markers(run) == [0]
    assert not (a.root / ".checkpoints").exists()  # nothing local: the bucket is the store

    resumed = b.run("workflow", "--resume", "--run-key=ci-7")
    assert resumed.code == 0, resumed.err
    assert a.log() == ["first", "middle"]
    assert b.log() == ["middle", "last"]  # the completed step is not run again
    assert bucket.only_run() == run
    assert bucket.markers(run) == [0, 1, 2]
    assert bucket.checkpoint(run)["status"] == "completed"
    status = b.run("workflow.status", "--json")
    assert f'"path": "s3://ckpt/{bucket.prefix}/{run}"' in status.out


def test_a_killed_holder_s_lease_lapses_and_another_machine_takes_over(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a, b = machines("a"), machines("b")
    holder = a.popen("workflow", env={"MIDDLE": "hold"}, stdin=subprocess.DEVNULL)
    wait_for(lambda: _started(a), proc=holder, what="step 1 to start on machine A")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=10)
    run = bucket.only_run()

    begun = time.monotonic()
    resumed = b.run("workflow", "--resume", timeout=60)
    assert resumed.code == 0, resumed.err
    assert time.monotonic() - begun >= 2  # a whole lease (2 s) without renewal first
    assert "took over the lock" in resumed.err
    assert a.log() == ["first", "middle"]
    assert b.log() == ["middle", "last"]
    assert bucket.only_run() == run
    assert bucket.markers(run) == [0, 1, 2]


def test_a_paused_holder_is_fenced_off_when_it_wakes_up(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a, b = machines("a"), machines("b")
    holder = a.popen("workflow", env={"MIDDLE": "hold"}, stdin=subprocess.DEVNULL)
    wait_for(lambda: _started(a), proc=holder, what="step 1 to start on machine A")
    os.killpg(holder.pid, signal.SIGSTOP)
    try:
        resumed = b.run("workflow", "--resume", timeout=60)
        after_b = bucket.snapshot()
    finally:
        (a.root / "release").touch()  # A's step ends as soon as it runs again
        os.killpg(holder.pid, signal.SIGCONT)
    assert resumed.code == 0, resumed.err
    run = bucket.only_run()

    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 2, (out, err)
    (line,) = err.strip().splitlines()  # one line, no traceback
    assert "lost the lease" in line, err
    assert bucket.snapshot() == after_b  # A overwrote nothing of B's
    assert bucket.checkpoint(run)["status"] == "completed"
    assert b.log() == ["middle", "last"]


@pytest.mark.slow
def test_eight_concurrent_starts_on_one_bucket_run_exactly_one(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    m = machines("a")
    procs = [
        m.popen("workflow", env={"MIDDLE": "hold"}, stdin=subprocess.DEVNULL) for _ in range(8)
    ]
    try:
        wait_for(lambda: _started(m), timeout=60, what="one run to start step 1")
        deadline = time.monotonic() + 60
        while sum(p.poll() is not None for p in procs) < 7 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        (m.root / "release").touch()
    results = [(p.wait(timeout=60), *p.communicate(timeout=10)) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [2] * 7, results
    for code, _, err in results:
        if code == 2:
            assert "is already running" in err.strip().splitlines()[-1], err
    assert len(bucket.runs()) == 1
    assert m.log().count("first") == 1


def test_unlock_releases_the_lock_of_a_dead_holder(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a = machines("a")
    holder = a.popen("workflow", env={"MIDDLE": "hold"}, stdin=subprocess.DEVNULL)
    wait_for(lambda: _started(a), proc=holder, what="step 1 to start")
    os.killpg(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=10)
    assert "workflow.lock" in bucket.names()

    forced = a.run("workflow.unlock", "--force")
    assert forced.code == 0, forced.err
    assert "removed the lock" in forced.out
    assert "workflow.lock" not in bucket.names()
    again = a.run("workflow.unlock")
    assert again.code == 0 and "is not locked" in again.out, again

    resumed = a.run("workflow", "--resume")  # at once: no lease to wait for
    assert resumed.code == 0, resumed.err
    assert "took over" not in resumed.err


def test_unlock_refuses_a_live_holder_without_force(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a = machines("a")
    holder = a.popen("workflow", env={"MIDDLE": "hold"}, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: _started(a), proc=holder, what="step 1 to start")
        refused = a.run("workflow.unlock")
        assert refused.code == 2
        assert "Traceback" not in refused.err
        assert "is already running" in refused.err.strip().splitlines()[-1]
    finally:
        (a.root / "release").touch()
    _, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    assert bucket.checkpoint(bucket.only_run())["status"] == "completed"


def test_export_import_moves_a_run_between_a_local_store_and_a_bucket(
    machines: Callable[[str], Machine], bucket: Bucket, tmp_path: Path
) -> None:
    a, b = machines("a"), machines("b")
    local = {"INVOKE_CHECKPOINTS_DIR": ".checkpoints"}  # machine A has no bucket
    assert a.run("workflow", env={**local, "MIDDLE": "fail"}).code == 3
    (run,) = (p.name for p in a.runs())
    archive = tmp_path / "run.tar.gz"
    exported = a.run("workflow.export", f"--run={run}", f"--output={archive}", env=local)
    assert exported.code == 0, exported.err

    imported = b.run("workflow.import", f"--input={archive}")
    assert imported.code == 0, imported.err
    assert bucket.only_run() == run
    assert bucket.markers(run) == [0]
    again = b.run("workflow.import", f"--input={archive}")
    assert again.code == 2
    assert "already in" in again.err.strip().splitlines()[-1]

    resumed = b.run("workflow", f"--resume={run}")
    assert resumed.code == 0, resumed.err
    assert b.log() == ["middle", "last"]
    back = tmp_path / "back.tar.gz"
    assert b.run("workflow.export", f"--output={back}").code == 0
    c = machines("c")
    assert c.run("workflow.import", f"--input={back}", env=local).code == 0
    assert c.checkpoint(c.store / run)["status"] == "completed"
    assert c.markers(c.store / run) == [0, 1, 2]


class _IgnoresConditions(BaseHTTPRequestHandler):
    """An "S3 clone" that accepts every PUT, conditional or not (as some do)."""

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("ETag", '"0123456789abcdef0123456789abcdef"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_DELETE(self) -> None:
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:  # no object is ever found
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_endpoint_that_ignores_conditional_writes_is_refused(project: Project) -> None:
    server = HTTPServer(("127.0.0.1", 0), _IgnoresConditions)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        project.use("remote")
        env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "INVOKE_CHECKPOINTS_DIR": "s3://ckpt/clone",
        }
        refused = project.run("workflow", env=env, timeout=60)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert refused.code == 2
    assert "ignores conditional writes" in one_line(refused)
    assert not (project.root / "log.txt").exists()  # no step ran
