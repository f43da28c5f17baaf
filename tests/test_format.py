"""The on-disk format of the user's spec: run directories, checkpoint.json, markers, state files."""

from __future__ import annotations

import getpass
import json
import os
import platform
import re
import socket
import subprocess
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import invoke
import pytest

from invoke_checkpoints.store.runs import Store

from .conftest import RUN_ID, Project

if TYPE_CHECKING:
    from pathlib import Path

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", re.ASCII)

SPEC_KEYS = {
    "version",
    "workflow_id",
    "project_path",
    "started_at",
    "last_checkpoint",
    "completed_steps",
    "current_step",
    "total_steps",
    "execution_mode",
    "environment",
    "metadata",
}
STATE_KEYS = {
    "step",
    "name",
    "status",
    "started_at",
    "completed_at",
    "duration_seconds",
    "exit_code",
    "outputs",
    "errors",
    "warnings",
}
MARKER_KEYS = ["STEP", "NAME", "COMPLETED_AT", "DURATION_SECONDS", "EXIT_CODE"]


def _utc(stamp: str) -> datetime:
    assert TIMESTAMP.fullmatch(stamp), stamp
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _source(marker: Path) -> dict[str, str]:
    """What a POSIX shell gets from ``. step_NN.complete``."""
    names = " ".join(f'"${key}"' for key in MARKER_KEYS)
    script = f'. "$1"; printf "%s\\n" {names}'
    proc = subprocess.run(
        ["sh", "-c", script, "sh", str(marker)],
        capture_output=True,
        check=True,
        cwd=marker.parent,
    )
    assert proc.stderr == b""
    values = proc.stdout.decode().splitlines()
    return dict(zip(MARKER_KEYS, values, strict=True))


@pytest.fixture
def completed(project: Project) -> Path:
    """A completed run of ``three_steps``."""
    project.use("three_steps")
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    return project.only_run()


def test_run_directory_is_named_after_utc_start(project: Project) -> None:
    """`invoke workflow` creates <store>/workflow_YYYYMMDD_HHMMSS/ from the UTC start time."""
    project.use("three_steps")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    assert project.invoke("workflow").code == 0
    after = datetime.now(timezone.utc)
    run = project.only_run()
    assert run.parent == project.store
    m = RUN_ID.fullmatch(run.name)
    assert m is not None, run.name
    assert m["name"] == "workflow"
    assert m["n"] is None
    started = datetime.strptime(m["stamp"], "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc)
    assert before <= started <= after
    assert project.checkpoint(run)["started_at"] == started.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_runs_in_the_same_second_get_a_suffix(project: Project) -> None:
    """A second run started in the same second gets `_2`, a third `_3`; each is its own run.

    The store takes the start time as an argument, so the same second is given, not waited for.
    """
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    first = project.only_run()
    stamp = RUN_ID.fullmatch(first.name)
    assert stamp is not None
    now = datetime.strptime(stamp["stamp"], "%Y%m%d_%H%M%S").replace(tzinfo=timezone.utc)
    template = project.checkpoint(first)
    store = Store(project.store)
    lock = store.lock("workflow")
    lock.acquire()
    try:
        for _ in range(2):
            store.create_run(
                "workflow",
                now,
                lambda run_id: json.dumps({**template, "workflow_id": run_id}).encode(),
            )
    finally:
        lock.release()
    ids = [RUN_ID.fullmatch(p.name) for p in project.runs()]
    assert all(ids)
    assert {m["stamp"] for m in ids if m} == {stamp["stamp"]}
    assert sorted(m["n"] or "1" for m in ids if m) == ["1", "2", "3"]
    for run in project.runs():
        assert project.checkpoint(run)["workflow_id"] == run.name
        assert project.checkpoint(run)["status"] == "completed"
    # The newest of them is the `_3` one, and that is what `status` and `--resume` take.
    newest = next(p.name for p in project.runs() if p.name.endswith("_3"))
    assert newest in project.invoke("workflow.status").out
    assert f"run {newest} already completed" in project.invoke("workflow", "--resume").out


def test_checkpoint_has_every_spec_field(project: Project, completed: Path) -> None:
    """checkpoint.json carries every key of the spec, with the spec's types, plus our own."""
    cp = project.checkpoint(completed)
    assert SPEC_KEYS | {"workflow", "steps", "status"} <= set(cp)
    assert re.fullmatch(r"1\.\d+\.\d+", cp["version"])
    assert cp["workflow_id"] == completed.name
    assert cp["workflow"] == "workflow"
    assert cp["project_path"] == str(project.root)
    assert _utc(cp["started_at"]) <= _utc(cp["last_checkpoint"])
    assert cp["completed_steps"] == [0, 1, 2]
    assert cp["current_step"] is None
    assert cp["total_steps"] == 3
    assert cp["steps"] == ["lint", "test", "docs"]
    assert cp["status"] == "completed"
    assert set(cp["execution_mode"]) >= {"auto", "smart_execution", "parallel", "dry_run"}
    assert all(isinstance(v, bool) for v in cp["execution_mode"].values())
    assert cp["execution_mode"]["dry_run"] is False
    env = cp["environment"]
    assert {"python_version", "invoke_version", "platform", "shell", "git_available"} <= set(env)
    assert env["python_version"] == platform.python_version()
    assert env["invoke_version"] == invoke.__version__
    assert isinstance(env["git_available"], bool)
    assert cp["metadata"] == {
        "user": getpass.getuser(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }


def test_status_values_on_disk(project: Project) -> None:
    """checkpoint.json status is completed or failed after the run (running while it runs)."""
    project.use("three_steps")
    project.edit(
        'c.run("echo lint-ran >> log.txt")',
        'c.run("echo lint-ran >> log.txt")\n'
        "    import json; from invoke_checkpoints import current_step as cs\n"
        '    p = cs().run.path / "checkpoint.json"\n'
        '    cs().outputs["seen"] = json.loads(p.read_text())["status"]',
    )
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    run = project.only_run()
    assert project.state(run, 0)["outputs"]["seen"] == "running"
    assert project.checkpoint(run)["status"] == "failed"
    assert project.invoke("workflow", "--resume").code == 0
    assert project.checkpoint(run)["status"] == "completed"


def test_marker_can_be_sourced_by_a_posix_shell(project: Project, completed: Path) -> None:
    """step_NN.complete is KEY=VALUE lines; `sh` sources it and gets the state's values."""
    for step, name in enumerate(["lint", "test", "docs"]):
        marker = completed / f"step_{step:02d}.complete"
        lines = marker.read_text().splitlines()
        assert [line.split("=", 1)[0] for line in lines] == MARKER_KEYS
        values = _source(marker)
        state = project.state(completed, step)
        assert values["STEP"] == str(step)
        assert values["NAME"] == name
        assert values["COMPLETED_AT"] == state["completed_at"]
        assert _utc(values["COMPLETED_AT"])
        assert float(values["DURATION_SECONDS"]) == pytest.approx(state["duration_seconds"])
        assert values["EXIT_CODE"] == "0"


def test_marker_quotes_a_hostile_step_name(project: Project) -> None:
    """A step name with shell syntax is data when the marker is sourced, never code."""
    hostile = "it's $(touch pwned) `touch pwned2`; touch pwned3"
    project.write(
        f"""
        from invoke import Collection, task
        from invoke_checkpoints import Step, workflow

        @task
        def build(c):
            pass

        ns = Collection(build)
        ns.add_collection(workflow(Step(build, name={hostile!r})))
        """
    )
    assert project.invoke("workflow").code == 0
    marker = project.only_run() / "step_00.complete"
    assert _source(marker)["NAME"] == hostile
    assert not list(marker.parent.glob("pwned*"))


def test_marker_only_for_successful_steps(project: Project) -> None:
    """A failing step gets a failed state file but no marker; later steps get neither."""
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    run = project.only_run()
    assert sorted(p.name for p in run.glob("step_*")) == ["step_00.complete"]
    assert sorted(p.name for p in (run / "state").iterdir()) == [
        "step_00_state.json",
        "step_01_state.json",
    ]


def test_state_file_for_every_started_step(project: Project) -> None:
    """Each started step has state/step_NN_state.json with every spec key."""
    project.use("three_steps")
    before = datetime.now(timezone.utc).replace(microsecond=0)
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    after = datetime.now(timezone.utc) + timedelta(seconds=1)
    run = project.only_run()

    ok = project.state(run, 0)
    assert set(ok) >= STATE_KEYS
    assert (ok["step"], ok["name"], ok["status"], ok["exit_code"]) == (0, "lint", "completed", 0)
    assert ok["outputs"] == {"checked": 3}
    assert ok["errors"] == []
    assert ok["warnings"] == []
    assert before <= _utc(ok["started_at"]) <= _utc(ok["completed_at"]) <= after
    assert isinstance(ok["duration_seconds"], float)
    assert 0 <= ok["duration_seconds"] < 30

    failed = project.state(run, 1)
    assert set(failed) >= STATE_KEYS
    assert (failed["step"], failed["name"], failed["status"]) == (1, "test", "failed")
    assert failed["exit_code"] == 3
    assert len(failed["errors"]) == 1
    assert "exit 3" in failed["errors"][0]
    assert _utc(failed["completed_at"]) >= _utc(failed["started_at"])


def test_no_temp_files_left_behind(project: Project, completed: Path) -> None:
    """Atomic writes leave no temp files in the run directory or the state directory."""
    leftovers = [p.name for p in completed.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_steps_are_numbered_from_zero_in_order(project: Project) -> None:
    """workflow(a, b, c): step 0 is a, 1 is b, 2 is c, in files and in the checkpoint."""
    names = ["zeta", "alpha", "mid"]
    source = "from invoke import Collection, task\nfrom invoke_checkpoints import workflow\n"
    for name in names:
        source += f"\n@task\ndef {name}(c):\n    pass\n"
    source += "\nns = Collection()\nns.add_collection(workflow(zeta, alpha, mid))\n"
    project.write(source)
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    assert project.checkpoint(run)["steps"] == names
    for number, name in enumerate(names):
        assert project.state(run, number)["name"] == name
        assert _source(run / f"step_{number:02d}.complete")["NAME"] == name
