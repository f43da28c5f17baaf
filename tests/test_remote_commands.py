"""Every command against a bucket (issue #17): status, list, clean, repair, report,
``--resume=ID``, ``--resume-from``, and what a step costs in requests.

Commands run in this process (``Program.run``) on "machines" sharing one prefix of a real S3
server (moto, single-threaded, 127.0.0.1; ``remote_support.py``); a run that must be alive
while another command runs is a real ``invoke`` process.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from invoke_checkpoints.store.s3 import S3Backend

from .conftest import one_line, wait_for
from .remote_support import Bucket, Machine, have_s3

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.skipif(
    not have_s3(), reason="needs the s3 and test extras (obstore, moto)"
)


def _failed_run(machine: Machine, bucket: Bucket) -> str:
    """A run of first -> middle -> last that failed at middle: marker 0 only."""
    failed = machine.invoke("workflow", env={"MIDDLE": "fail"})
    assert failed.code == 3, failed.err
    return bucket.runs()[-1]


def test_status_and_list_read_a_run_in_the_bucket(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a, b = machines("a"), machines("b")
    run = _failed_run(a, bucket)

    status = b.invoke("workflow.status", "--json")
    assert status.code == 0, status.err
    doc = json.loads(status.out)
    assert (doc["run_id"], doc["status"], doc["completed"]) == (run, "failed", 1)
    assert doc["path"] == f"s3://ckpt/{bucket.prefix}/{run}"
    assert [s["status"] for s in doc["steps"]] == ["completed", "failed", "pending"]
    assert doc["resume_command"] == f"invoke workflow --resume={run}"
    text = b.invoke("workflow.status")
    assert run in text.out and "failed" in text.out

    listed = b.invoke("workflow.list", "--json")
    assert listed.code == 0, listed.err
    (row,) = json.loads(listed.out)["runs"]
    sizes = sum(len(bucket.read(k)) for k in bucket.names() if k.startswith(f"{run}/"))
    assert (row["run_id"], row["status"], row["completed"], row["total"]) == (run, "failed", 1, 3)
    assert row["size_bytes"] == sizes
    assert run in b.invoke("workflow.list").out


def test_resume_by_id_and_resume_from_continue_the_named_run(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a, b = machines("a"), machines("b")
    first = _failed_run(a, bucket)
    second = _failed_run(a, bucket)
    assert first != second

    resumed = b.invoke("workflow", f"--resume={first}")
    assert resumed.code == 0, resumed.err
    assert b.log() == ["middle", "last"]
    assert bucket.markers(first) == [0, 1, 2]
    assert bucket.markers(second) == [0]  # the latest run was not the one continued
    assert bucket.checkpoint(second)["status"] == "failed"

    again = b.invoke("workflow", f"--resume={first}", "--resume-from=middle")
    assert again.code == 0, again.err
    assert b.log() == ["middle", "last", "middle", "last"]  # from middle on, first kept
    assert bucket.markers(first) == [0, 1, 2]
    middle = json.loads(bucket.read(f"{first}/state/step_01_state.json"))
    assert (middle["status"], middle["attempts"]) == ("completed", 3)

    latest = b.invoke("workflow", "--resume")
    assert latest.code == 0, latest.err
    assert b.log()[-2:] == ["middle", "last"]
    assert bucket.checkpoint(second)["status"] == "completed"


def test_clean_deletes_runs_from_the_bucket_and_never_races_a_run(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a, b = machines("a"), machines("b")
    for _ in range(3):
        assert a.invoke("workflow").code == 0
    runs = bucket.runs()
    assert len(runs) == 3

    dry = b.invoke("workflow.clean", "--all", "--keep=1", "--dry-run")
    assert dry.code == 0, dry.err
    assert "would remove 2 run(s)" in dry.out
    assert bucket.runs() == runs
    cleaned = b.invoke("workflow.clean", "--all", "--keep=1")
    assert cleaned.code == 0, cleaned.err
    assert "removed 2 run(s)" in cleaned.out
    assert bucket.runs() == runs[-1:]
    assert not [k for k in bucket.names() if k.split("/")[0] in runs[:-1]]

    # While a run holds the workflow's lease, clean refuses: it could remove the run being
    # chosen (object storage has no flock for a runs guard of its own).
    holder = a.popen("workflow", env={"MIDDLE": "hold"}, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: any(a.root.glob("started-*")), proc=holder, what="step 1 to start")
        before = [k for k in bucket.names() if "/" in k]
        assert len(bucket.runs()) == 2  # the kept run and the one holding the lease
        refused = b.invoke("workflow.clean", "--all")
        assert refused.code == 2
        assert "cannot clean now" in one_line(refused)
        assert [k for k in bucket.names() if "/" in k] == before  # nothing deleted
    finally:
        (a.root / "release").touch()
    _, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err

    everything = b.invoke("workflow.clean", "--all")
    assert everything.code == 0, everything.err
    assert "removed 2 run(s)" in everything.out
    assert bucket.runs() == []
    assert json.loads(bucket.read("workflow.lock"))["released"] is True


def test_repair_rebuilds_a_damaged_checkpoint_in_the_bucket(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a, b = machines("a"), machines("b")
    run = _failed_run(a, bucket)
    bucket.write(f"{run}/checkpoint.json", b'{"not": "a checkpoint"')

    refused = b.invoke("workflow.status")
    assert refused.code == 2
    line = one_line(refused)
    assert f"s3://ckpt/{bucket.prefix}/{run}/checkpoint.json" in line
    assert "workflow.repair" in line

    repaired = b.invoke("workflow.repair")
    assert repaired.code == 0, repaired.err
    assert f"rebuilt s3://ckpt/{bucket.prefix}/{run}/checkpoint.json" in repaired.out
    (kept,) = [k for k in bucket.names() if ".corrupt-" in k]
    assert bucket.read(kept) == b'{"not": "a checkpoint"'
    assert bucket.checkpoint(run)["completed_steps"] == [0]

    resumed = b.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert b.log() == ["middle", "last"]
    assert bucket.checkpoint(run)["status"] == "completed"


def test_report_of_a_run_in_the_bucket_is_a_local_file(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    a, b = machines("a"), machines("b")
    run = _failed_run(a, bucket)
    report = b.invoke("workflow.report")
    assert report.code == 0, report.err
    path = b.root / ".checkpoints" / "workflow-report.html"
    assert report.out.strip() == str(path)
    page = path.read_text()
    assert run in page
    assert "middle" in page and "first" in page
    assert not [k for k in bucket.names() if k.endswith(".html")]


# -- what a step costs ---------------------------------------------------------------------


def _count_requests(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str]]:
    """Every request of every S3 store of this process, by (what, kind of key)."""
    counted: Counter[tuple[str, str]] = Counter()
    call = S3Backend.call

    def counting(self: S3Backend, what: str, key: str, request: Callable[[], Any]) -> Any:
        name = key.rpartition("/")[2]
        kind = next(
            (k for k in ("_state.json", ".complete", "checkpoint.json") if name.endswith(k)), "-"
        )
        counted[what, kind] += 1
        return call(self, what, key, request)

    monkeypatch.setattr(S3Backend, "call", counting)
    return counted


def test_a_quick_step_costs_its_final_state_and_its_marker(
    machines: Callable[[str], Machine], bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 steps of 3 ms: 20 state PUTs, 20 marker PUTs; checkpoint.json when the run starts,
    says running and stops, and once per 2 s of steps in between (not every 0.1 s)."""
    m = machines("a")
    m.use("twenty_steps")
    counted = _count_requests(monkeypatch)
    begun = time.monotonic()
    done = m.invoke("workflow", "--no-smart")
    took = time.monotonic() - begun
    assert done.code == 0, done.err
    assert counted["write", "_state.json"] == 20  # no `running` state for a quick step
    assert counted["write", ".complete"] == 20
    assert counted["write", "checkpoint.json"] <= 3 + int(took / 2)
    run = bucket.only_run()
    assert bucket.markers(run) == list(range(20))
    assert bucket.checkpoint(run)["completed_steps"] == list(range(20))


def test_a_quick_command_waits_for_the_delay_too_on_a_bucket(
    machines: Callable[[str], Machine], bucket: Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step that starts a command has its `running` state written at once in a local store
    (a resume on that machine checks its child's pid); on a bucket, only once it ran 2 s."""
    m = machines("a")
    m.write(
        """
        from invoke import Collection, task
        from invoke_checkpoints import workflow

        def make(n):
            @task(name=f"c{n}")
            def step(c):
                c.run("true")
            return step

        steps = [make(n) for n in range(5)]
        ns = Collection(*steps)
        ns.add_collection(workflow(*steps))
        """
    )
    counted = _count_requests(monkeypatch)
    done = m.invoke("workflow", "--no-smart")
    assert done.code == 0, done.err
    assert counted["write", "_state.json"] == 5
    assert counted["write", ".complete"] == 5


def test_a_long_step_has_its_running_state_written_after_the_delay(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    m = machines("a")
    holder = m.popen("workflow", env={"MIDDLE": "hold"}, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: any(m.root.glob("started-*")), proc=holder, what="step 1 to start")
        started = time.monotonic()
        run = wait_for(bucket.runs, what="the run in the bucket")[0]
        key = f"{run}/state/step_01_state.json"
        wait_for(lambda: key in bucket.names(), timeout=15, proc=holder, what="running state")
        waited = time.monotonic() - started
        assert json.loads(bucket.read(key))["status"] == "running"
        assert waited >= 1.0  # written once the step ran 2 s (it started before `started`)
    finally:
        (m.root / "release").touch()
    _, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
