"""The file system says no: disk full (a real, small tmpfs), read-only file system, a store
path that is a file, an unwritable parent. One line naming the path and the errno, exit 2, no
traceback, no torn file; once the cause is fixed ``--resume`` continues. A reader who may not
write (a read-only mount) can still run ``status`` and ``list``.

Mounting needs root (CAP_SYS_ADMIN); without it these tests are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..conftest import Project, log_lines
from .conftest import one_line

if TYPE_CHECKING:
    from collections.abc import Iterator


class Mount:
    """A real tmpfs of ``size`` bytes at ``path``; remountable read-only."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        path.mkdir(parents=True)
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip() or proc.returncode})")

    def remount(self, option: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{option}", str(self.path)], check=True)

    def fill(self) -> Path:
        """Fill the file system to the last byte; the filler's path (delete it to free)."""
        filler = self.path / f"filler-{uuid.uuid4().hex}"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        return filler

    def umount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Mount]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    m = Mount(tmp_path / "mnt", 512 * 1024)
    yield m
    m.umount()


def _use_store(project: Project, store: Path) -> None:
    project.write(f"checkpoints:\n  dir: {store}\n", "invoke.yaml")


FILLING_TASKS = """
    import os

    from invoke import Collection, task

    from invoke_checkpoints import workflow


    def _log(name):
        with open("log.txt", "a") as f:
            f.write(name + "\\n")


    @task
    def lint(c):
        _log("lint")


    @task
    def filling(c):
        \"\"\"Succeeds, after filling the store's file system when $FILL names a file there.\"\"\"
        _log("filling")
        target = os.environ.get("FILL")
        if target:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                while True:
                    os.write(fd, b"\\0" * 4096)
            except OSError:
                pass
            os.close(fd)


    @task
    def docs(c):
        _log("docs")


    ns = Collection(lint, filling, docs)
    ns.add_collection(workflow(lint, filling, docs))
"""


def _no_temp_files(store: Path) -> None:
    left = list(store.rglob(".*.tmp"))
    assert left == [], left


def _parses(store: Path) -> None:
    for path in store.glob("workflow_*/checkpoint.json"):
        json.loads(path.read_bytes())


def test_disk_full_before_a_step_is_one_line_and_resume_continues(
    project: Project, mount: Mount
) -> None:
    """A full disk when a resume starts: exit 2, ``cannot write <path>: ... (ENOSPC)``;
    nothing torn, nothing left behind; after freeing space the resume completes."""
    store = mount.path / ".checkpoints"
    _use_store(project, store)
    project.use("fast_steps")
    (project.root / "fail").touch()
    assert project.invoke("workflow").code == 3
    (project.root / "fail").unlink()
    run = next(store.glob("workflow_*"))
    before = (run / "checkpoint.json").read_bytes()

    filler = mount.fill()
    outcome = project.run("workflow", "--resume")
    assert outcome.code == 2, outcome
    line = one_line(outcome)
    assert line.startswith(f"invoke-checkpoints: cannot write {store}/"), line
    assert "No space left on device (ENOSPC)" in line, line
    assert (run / "checkpoint.json").read_bytes() == before
    _no_temp_files(store)
    status = project.run("workflow.status", "--json")
    assert status.code == 0 and json.loads(status.out)["status"] == "failed", status

    filler.unlink()
    resumed = project.run("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert json.loads((run / "checkpoint.json").read_bytes())["status"] == "completed"
    assert log_lines(project) == ["lint", "test", "test", "docs"]


def test_disk_full_while_a_step_runs_records_nothing_false(project: Project, mount: Mount) -> None:
    """The disk fills during a step: its commit cannot be written, so the run stops with one
    line (exit 2); the step has no marker and runs again on the resume after space is freed."""
    store = mount.path / ".checkpoints"
    _use_store(project, store)
    project.write(FILLING_TASKS)
    filler = mount.path / "filler"
    outcome = project.run("workflow", env={"FILL": str(filler)})
    assert outcome.code == 2, outcome
    line = one_line(outcome)
    assert "(ENOSPC)" in line and str(store) in line, line
    run = next(store.glob("workflow_*"))
    _parses(store)
    _no_temp_files(store)
    assert not (run / "step_01.complete").exists()

    filler.unlink()
    resumed = project.run("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert log_lines(project) == ["lint", "filling", "filling", "docs"]


def test_read_only_file_system(project: Project, mount: Mount) -> None:
    """Remounted read-only: a resume says EROFS in one line; ``status`` and ``list`` work
    (they write nothing, not even a lock file); after remounting rw the resume continues."""
    store = mount.path / ".checkpoints"
    _use_store(project, store)
    project.use("fast_steps")
    (project.root / "fail").touch()
    assert project.invoke("workflow").code == 3
    (project.root / "fail").unlink()
    mount.remount("ro")
    try:
        outcome = project.run("workflow", "--resume")
        assert outcome.code == 2, outcome
        line = one_line(outcome)
        assert "Read-only file system (EROFS)" in line and str(store) in line, line
        status = project.run("workflow.status")
        assert status.code == 0, status.err
        assert "failed" in status.out
        listed = project.run("workflow.list", "--json")
        assert listed.code == 0, listed.err
        assert [r["status"] for r in json.loads(listed.out)["runs"]] == ["failed"]
        cleaned = project.run("workflow.clean", "--all")
        assert cleaned.code == 2 and "(EROFS)" in one_line(cleaned), cleaned
    finally:
        mount.remount("rw")
    resumed = project.run("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert log_lines(project) == ["lint", "test", "test", "docs"]


def test_read_only_store_never_created_by_status(project: Project, mount: Mount) -> None:
    """``status``/``list`` of a store on a read-only mount that has no lock file yet (a copied
    store): no lock file is created, nothing is written."""
    store = mount.path / ".checkpoints"
    _use_store(project, store)
    project.use("fast_steps")
    assert project.invoke("workflow").code == 0
    for name in ("workflow.lock", "workflow.lock.json", "workflow.runs.lock"):
        (store / name).unlink()
    mount.remount("ro")
    try:
        for argv in (("workflow.status",), ("workflow.list",)):
            outcome = project.run(*argv)
            assert outcome.code == 0, (argv, outcome)
            assert "completed" in outcome.out
    finally:
        mount.remount("rw")
    assert not (store / "workflow.lock").exists()


def test_store_path_that_is_a_file(project: Project) -> None:
    """``.checkpoints`` is a regular file: one line naming it, ENOTDIR, exit 2; the file is
    untouched."""
    project.use("fast_steps")
    project.store.write_text("not a directory\n")
    outcome = project.run("workflow")
    assert outcome.code == 2, outcome
    line = one_line(outcome)
    assert f"cannot write {project.store}" in line and "(ENOTDIR)" in line, line
    assert project.store.read_text() == "not a directory\n"
    assert log_lines(project) == []


def test_unwritable_parent(project: Project, mount: Mount) -> None:
    """The store's parent cannot be written (a read-only mount; root ignores mode bits): one
    line naming the store and the errno, exit 2."""
    store = mount.path / "sub" / ".checkpoints"
    _use_store(project, store)
    project.use("fast_steps")
    mount.remount("ro")
    try:
        outcome = project.run("workflow")
    finally:
        mount.remount("rw")
    assert outcome.code == 2, outcome
    line = one_line(outcome)
    assert f"cannot write {store.parent}:" in line, line  # the directory it could not create
    assert f"({errno.errorcode[errno.EROFS]})" in line, line
    assert log_lines(project) == []


def test_reader_of_another_users_shared_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's ``permissions: shared`` store (0755/0644, lock files 0644): a user who
    may read but not write it runs ``status`` and ``list`` (as uid 65534 here, through
    ``seteuid``); nothing is written, and a resume is refused with one line."""
    if os.geteuid() != 0:
        pytest.skip("switching to another uid needs root")
    import tempfile

    root = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is not traversable by others
    try:
        root.chmod(0o755)
        monkeypatch.setenv("HOME", str(root))  # Invoke reads ~/.invoke.yaml
        project = Project(root, monkeypatch)
        project.use("fast_steps")
        project.write("checkpoints:\n  permissions: shared\n", "invoke.yaml")
        (project.root / "fail").touch()
        assert project.invoke("workflow").code == 3
        for argv in (("workflow.status",), ("workflow.list",), ("workflow", "--resume")):
            project.invoke(*argv)  # as the owner: every module the commands need is imported
        (project.root / "log.txt").unlink()
        before = project.snapshot()
        os.setegid(65534)
        os.seteuid(65534)
        try:
            status = project.invoke("workflow.status", "--json")
            listed = project.invoke("workflow.list", "--json")
            resumed = project.invoke("workflow", "--resume")
        finally:
            os.seteuid(0)
            os.setegid(0)
        assert status.code == 0, status
        assert json.loads(status.out)["status"] == "failed"
        assert listed.code == 0, listed
        assert [r["status"] for r in json.loads(listed.out)["runs"]] == ["failed"]
        assert resumed.code == 2, resumed
        assert "(EACCES)" in one_line(resumed)
        assert project.snapshot() == before
        assert not (project.root / "log.txt").exists()
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
