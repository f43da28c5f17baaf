"""Findings of the fifth hostile review (today's performance changes: a run's files read in one
call per directory; and a repair hint older than them), each fixed."""

from __future__ import annotations

import json
import time
import tracemalloc
from typing import TYPE_CHECKING, Any

import pytest

from invoke_checkpoints.store.backend import LocalBackend
from invoke_checkpoints.store.rundir import RunDir
from invoke_checkpoints.store.safefs import MAX_FILE, MAX_SMALL

from .remote_support import have_s3

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Project
    from .remote_support import Bucket, Machine


def _not_a_marker(path: Path) -> None:
    path.write_text("{not a marker")


def _group_writable(path: Path) -> None:
    path.chmod(0o664)


def _too_big(limit: int) -> Callable[[Path], None]:
    def grow(path: Path) -> None:
        with path.open("r+b") as f:
            f.truncate(limit + 1)  # sparse: no disk space taken

    return grow


def _listing(run: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(p.relative_to(run)): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(run.rglob("*"))
    }


def _names_another_step(path: Path) -> None:
    doc = json.loads(path.read_text())
    doc["name"] = "elsewhere"
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize(
    ("folder", "first", "later", "expected"),
    [
        ("", _not_a_marker, _group_writable, "not a valid marker"),
        ("", _not_a_marker, _too_big(MAX_SMALL), "not a valid marker"),
        ("state", _names_another_step, _group_writable, "records step 0 as 'elsewhere'"),
        ("state", _names_another_step, _too_big(MAX_FILE), "records step 0 as 'elsewhere'"),
    ],
    ids=[
        "marker-then-untrusted",
        "marker-then-oversized",
        "state-then-untrusted",
        "state-then-huge",
    ],
)
def test_the_first_damaged_file_in_step_order_is_the_one_named(
    project: Project,
    folder: str,
    first: Callable[[Path], None],
    later: Callable[[Path], None],
    expected: str,
) -> None:
    """A run whose step 0 file is damaged and whose step 2 file cannot be read (another user
    could change it, or it is over the size bound): ``status`` and ``--resume`` name step 0's
    file, with the repair hint, as the file-by-file validation did. Reading all of a
    directory's files before checking any named step 2's instead (the untrusted one: no repair
    hint at all, and after a chmod the next attempt names step 0 anyway)."""
    project.use("three_steps")
    assert project.run("workflow").code == 0
    run = project.only_run()
    where = run / folder if folder else run
    names = (
        ["step_00_state.json", "step_02_state.json"]
        if folder
        else ["step_00.complete", "step_02.complete"]
    )
    first(where / names[0])
    later(where / names[1])
    before = _listing(run)
    for argv in (["workflow.status"], ["workflow", "--resume"]):
        out = project.run(*argv)
        assert out.code == 2, out.err
        assert f"{names[0]}: {expected}" in out.err, out.err
        assert names[1] not in out.err, out.err
        assert "workflow.repair" in out.err, out.err
        assert "Traceback" not in out.err
    assert _listing(run) == before  # nothing changed, nothing set aside


@pytest.mark.skipif(not have_s3(), reason="needs the s3 and test extras (obstore, moto)")
def test_the_first_damaged_object_in_step_order_is_the_one_named_in_a_bucket(
    machines: Callable[[str], Machine], bucket: Bucket
) -> None:
    """The same on a bucket: step 0's marker is not a marker, step 2's is over the bound; the
    message names step 0's, as its object-by-object validation did."""
    machine = machines("a")
    assert machine.run("workflow").code == 0
    run = bucket.only_run()
    bucket.write(f"{run}/step_00.complete", b"{not a marker")
    bucket.write(f"{run}/step_02.complete", b"x" * (MAX_SMALL + 1))
    out = machine.run("workflow.status")
    assert out.code == 2, out.err
    assert "step_00.complete: not a valid marker" in out.err, out.err
    assert "step_02.complete" not in out.err, out.err


def _big_states(run: Path, size: int) -> int:
    """Give every state file of ``run`` an output of ``size`` characters; their total size."""
    total = 0
    for path in sorted((run / "state").glob("step_*_state.json")):
        doc: dict[str, Any] = json.loads(path.read_text())
        doc["outputs"] = {"log": "x" * size}
        path.write_text(json.dumps(doc))
        total += path.stat().st_size
    return total


def test_validating_a_run_does_not_hold_every_state_file_twice(project: Project) -> None:
    """The states read in one call are each dropped once parsed: the validation's peak memory
    is the parsed states plus about one file, as when they were read one at a time, not the
    parsed states plus every file's bytes (a run with large outputs: twice the memory)."""
    project.write(
        """
        from invoke import Collection, task
        from invoke_checkpoints import workflow

        steps = []
        for n in range(8):
            def body(c):
                pass

            body.__name__ = body.__qualname__ = f"t{n}"
            steps.append(task(body, name=f"t{n}"))
        ns = Collection(*steps)
        ns.add_collection(workflow(*steps))
        """
    )
    done = project.run("workflow")
    assert done.code == 0, done.err
    run = project.only_run()
    total = _big_states(run, 2 << 20)
    run_dir = RunDir(LocalBackend(run.parent, readonly=True), run.name)
    steps = [f"t{n}" for n in range(8)]
    tracemalloc.start()
    try:
        states = run_dir.check_files(steps)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sorted(states) == list(range(8))
    assert peak < total * 1.5, (peak, total)


def test_the_repair_hint_for_an_unreadable_file_names_its_run(project: Project) -> None:
    """A file of an older run that cannot be read as it is (here a marker over the size bound):
    the message's repair command names that run. It said `invoke workflow.repair`, which
    repairs the latest run ("nothing to repair") and leaves the damaged one as it was."""
    project.use("three_steps")
    assert project.run("workflow").code == 0
    first = project.only_run()
    time.sleep(1.1)  # run ids have a resolution of one second
    assert project.run("workflow").code == 0
    _too_big(MAX_SMALL)(first / "step_01.complete")
    out = project.run("workflow.status", f"--run={first.name}")
    assert out.code == 2, out.err
    assert f"`invoke workflow.repair --run={first.name}`" in out.err, out.err
    repaired = project.run("workflow.repair", f"--run={first.name}")
    assert repaired.code == 0, repaired.err
    assert project.run("workflow.status", f"--run={first.name}").code == 0
