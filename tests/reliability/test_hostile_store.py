"""A store another local user controls: planted runs and files, a store writable by others, a
run directory swapped for a link while the run executes, FIFOs and links planted at temp or
store paths, files too big to be ours. Refused with one line (like ssh's StrictModes), never
followed, never waited on; a planted run is never resumed and its outputs never reach a step.

Tests run as root here: another user is simulated with ``chown`` to an unused uid.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import Project, log_lines, rename_run, store_files, wait_for
from .conftest import fail_once, one_line

OTHER_UID = 65534  # nobody


def _chown_tree(path: Path, uid: int) -> None:
    os.lchown(path, uid, -1)
    for p in path.rglob("*"):
        os.lchown(p, uid, -1)


def _plant_run(project: Project, run: Path, run_id: str) -> Path:
    """A copy of ``run`` named ``run_id``, owned by another user."""
    planted = project.store / run_id
    shutil.copytree(run, planted)
    cp = json.loads((planted / "checkpoint.json").read_text())
    cp["workflow_id"] = run_id
    (planted / "checkpoint.json").write_text(json.dumps(cp))
    _chown_tree(planted, OTHER_UID)
    return planted


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another uid needs root")


@needs_root
def test_planted_run_is_never_resumed(project: Project) -> None:
    """A run directory owned by another user, named to look newest: ``--resume`` of it
    refuses with one line saying why and how to fix; nothing runs; ``list`` shows it as
    ``refused`` with the reason; ``status --run`` of it refuses too."""
    real = fail_once(project)
    planted = _plant_run(project, real, "workflow_20990101_000000")
    before = store_files(project)
    for argv in (
        ("workflow", f"--resume={planted.name}"),
        ("workflow.status", f"--run={planted.name}"),
    ):
        outcome = project.invoke(*argv)
        assert outcome.code == 2, (argv, outcome)
        line = one_line(outcome)
        assert f"owned by uid {OTHER_UID}" in line and "remove it" in line, line
    listed = project.invoke("workflow.list", "--json")
    assert listed.code == 0, listed.err
    rows = {r["run_id"]: r for r in json.loads(listed.out)["runs"]}
    assert rows[planted.name]["status"] == "refused"
    assert f"owned by uid {OTHER_UID}" in rows[planted.name]["reason"]
    assert rows[real.name]["status"] == "failed"
    assert log_lines(project) == ["lint", "test"]
    assert {k: v for k, v in store_files(project).items() if "latest" not in k} == {
        k: v for k, v in before.items() if "latest" not in k
    }


@needs_root
def test_planted_file_in_own_run_is_refused(project: Project) -> None:
    """A marker planted by another user in one's own run: the resume refuses, the planted
    step's 'completion' is never trusted."""
    run = fail_once(project)
    marker = run / "step_01.complete"
    marker.write_bytes((run / "step_00.complete").read_bytes().replace(b"=0\n", b"=1\n", 1))
    marker.write_text(marker.read_text().replace("NAME=lint", "NAME=test"))
    os.lchown(marker, OTHER_UID, -1)
    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 2, outcome
    assert f"{marker}: owned by uid {OTHER_UID}" in one_line(outcome)
    assert log_lines(project) == ["lint", "test"]


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_store_writable_by_others_is_refused(project: Project, mode: int) -> None:
    """A store directory others may write to: refused, saying ``chmod go-w``."""
    fail_once(project)
    project.store.chmod(mode)
    for argv in (("workflow", "--resume"), ("workflow.status",), ("workflow.clean", "--all")):
        outcome = project.invoke(*argv)
        assert outcome.code == 2, (argv, outcome)
        line = one_line(outcome)
        assert f"chmod go-w {project.store}" in line and "writable by group or others" in line
    assert log_lines(project) == ["lint", "test"]
    project.store.chmod(0o700)
    assert project.invoke("workflow", "--resume").code == 0


@needs_root
def test_store_of_another_user_is_refused_for_writing(project: Project) -> None:
    fail_once(project)
    os.lchown(project.store, OTHER_UID, -1)
    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 2, outcome
    assert f"{project.store}: owned by uid {OTHER_UID}" in one_line(outcome)
    assert log_lines(project) == ["lint", "test"]


def test_run_directory_swapped_for_a_link_mid_run(project: Project, tmp_path: Path) -> None:
    """While step 1 runs, the run directory is moved away and a link to it put in its place:
    the run's next write refuses the link (one line, exit 2); the moved directory, outside
    the store, is never written."""
    project.use("sleepy")
    proc = project.popen("workflow", env={"HOLD": "1"}, stdin=subprocess.DEVNULL)
    wait_for((project.root / "started").exists, proc=proc)
    run = project.only_run()
    outside = tmp_path / "outside"
    run.rename(outside)
    run.symlink_to(outside, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in sorted(outside.rglob("*")) if p.is_file()}
    (project.root / "release").touch()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert "Traceback" not in err
    assert "symbolic link" in err.strip().splitlines()[-1], err
    after = {p.name: p.read_bytes() for p in sorted(outside.rglob("*")) if p.is_file()}
    assert after == before
    assert log_lines(project) == ["first", "slow"]


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_thing_planted_at_a_temp_name_neither_hangs_nor_redirects(
    project: Project, tmp_path: Path, kind: str
) -> None:
    """A FIFO or a link at the temp names a write used to use (fixed, or predictable): the
    write uses a fresh unique name instead, neither waiting on the FIFO nor writing through
    the link."""
    run = fail_once(project)
    target = tmp_path / "precious"
    target.write_text("keep me")
    pid = os.getpid()
    names = [
        (project.store, ".workflow.lock.json.tmp"),
        (project.store, f".workflow.lock.json.{pid}.tmp"),
        (run, ".checkpoint.json.tmp"),
        (run / "state", ".step_01_state.json.tmp"),
    ]
    for folder, name in names:
        if kind == "fifo":
            os.mkfifo(folder / name)
        else:
            (folder / name).symlink_to(target)
    outcome = project.run("workflow", "--resume", timeout=60)
    assert outcome.code == 0, outcome
    assert target.read_text() == "keep me"
    assert project.checkpoint(run)["status"] == "completed"


def test_fifo_at_a_store_file_is_refused_not_waited_on(project: Project) -> None:
    """checkpoint.json replaced by a FIFO: ``status`` and ``--resume`` say it is not a regular
    file at once (a read of a FIFO would wait for a writer for ever)."""
    run = fail_once(project)
    (run / "checkpoint.json").unlink()
    os.mkfifo(run / "checkpoint.json")
    for argv in (("workflow.status",), ("workflow", "--resume"), ("workflow.list",)):
        outcome = project.run(*argv, timeout=30)
        if argv == ("workflow.list",):
            assert outcome.code == 0 and "corrupt" in outcome.out, outcome
            continue
        assert outcome.code == 2, (argv, outcome)
        assert "checkpoint.json: not a regular file" in one_line(outcome)


@pytest.mark.parametrize(
    ("name", "size"),
    [("checkpoint.json", 65 * 1024 * 1024), ("step_00.complete", 65 * 1024)],
)
def test_store_file_too_big_is_refused_unread(project: Project, name: str, size: int) -> None:
    """A file larger than anything the package writes (a sparse one here) is refused as
    corrupt by its size, before it is read into memory."""
    run = fail_once(project)
    with open(run / name, "r+b") as f:
        f.truncate(size)
    outcome = project.invoke("workflow.status")
    assert outcome.code == 2, outcome
    assert f"{name}: larger than" in one_line(outcome)


def test_leftover_deletions_and_temp_files_are_swept(project: Project) -> None:
    """A killed ``clean`` leaves a ``.deleting-`` directory, a killed writer temp files: the
    next command holding the lock (a run, ``clean``, ``repair``) removes them; a temp file
    of a live process stays."""
    first = fail_once(project)
    second = rename_run(first, "workflow_20200101_000000")
    assert project.invoke("workflow").code == 0
    tomb = project.store / f".deleting-{second.name}-999999"
    second.rename(tomb)
    dead = project.store / ".workflow.lock.json.999999.0123456789abcdef.tmp"
    dead.write_text("{")
    live = project.store / f".workflow.smart.json.{os.getpid()}.0123456789abcdef.tmp"
    live.write_text("{")
    other = project.store / ".deleting-release_20200101_000000-999999"
    other.mkdir()
    assert project.invoke("workflow.clean", "--keep=5").code == 0
    assert not tomb.exists() and not dead.exists()
    assert live.exists() and other.exists()  # a live writer's, another workflow's


def test_state_directory_made_writable_by_others_mid_run_is_refused(project: Project) -> None:
    """A run keeps its directories open while its steps write; each write still checks every
    directory's owner and mode, so one made group-writable by a step is refused at the next
    write (one line, exit 2), as it was when each write opened the directories again."""
    project.write(
        """
        import os
        from pathlib import Path
        from invoke import Collection, task
        from invoke_checkpoints import workflow

        @task
        def first(c):
            pass

        @task
        def loosen(c):
            run = next(p for p in Path(".checkpoints").iterdir() if p.name.startswith("workflow_"))
            os.chmod(run / "state", 0o770)

        @task
        def never(c):
            Path("never-ran").touch()

        ns = Collection()
        ns.add_collection(workflow(first, loosen, never))
        """
    )
    outcome = project.run("workflow")
    assert outcome.code == 2, outcome
    assert "Traceback" not in outcome.err
    line = one_line(outcome)
    assert "state: writable by group or others" in line and "chmod go-w" in line, line
    assert not (project.root / "never-ran").exists()


def test_a_run_leaves_no_descriptor_open(project: Project) -> None:
    """The directories a run holds open are closed when it ends: run, fail, resume, status."""
    project.write(
        """
        import os
        from invoke import Collection, task
        from invoke_checkpoints import workflow

        @task
        def a(c):
            pass

        @task
        def b(c):
            if not os.path.exists("ok"):
                raise SystemExit(1)

        ns = Collection()
        ns.add_collection(workflow(a, b))
        """
    )
    fds = set(os.listdir("/proc/self/fd"))
    assert project.invoke("workflow").code == 1
    (project.root / "ok").touch()
    assert project.invoke("workflow", "--resume").code == 0
    assert project.invoke("workflow.status").code == 0
    assert set(os.listdir("/proc/self/fd")) == fds
