"""Security defaults: modes, the store's own .gitignore, secret redaction, hostile run ids,
and symbolic links inside the store (never followed for reads, writes or deletes)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import Project, log_lines, store_files
from .conftest import fail_once, one_line


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    """Mode bits of the store and of everything in it (links excluded), by relative path."""
    modes = {".": stat.S_IMODE(root.lstat().st_mode)}
    for path in root.rglob("*"):
        modes[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return modes


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every entry under ``root``: file bytes, ``None`` for directories (links not followed)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in sorted(root.rglob("*"))
    }


# -- modes -------------------------------------------------------------------------------


def test_store_is_private_by_default(project: Project) -> None:
    """0700 directories, 0600 files, whatever the umask (0 here lets everything through)."""
    with _umask(0):
        fail_once(project)
        assert project.invoke("workflow", "--resume").code == 0
        assert project.invoke("workflow").code == 0
    modes = _modes(project.store)
    assert len(modes) > 20
    for rel, mode in modes.items():
        is_dir = (project.store / rel).is_dir()
        assert mode == (0o700 if is_dir else 0o600), (rel, oct(mode))


def test_shared_permissions_give_0755_and_0644(project: Project) -> None:
    """``checkpoints.permissions: shared``: the spec's 0755/0644 (lock files stay private)."""
    project.write("checkpoints:\n  permissions: shared\n", "invoke.yaml")
    with _umask(0o022):
        fail_once(project)
        assert project.invoke("workflow", "--resume").code == 0
    modes = _modes(project.store)
    for rel, mode in modes.items():
        if ".lock" in rel:
            assert mode & 0o022 == 0, (rel, oct(mode))  # never writable by others
            continue
        is_dir = (project.store / rel).is_dir()
        assert mode == (0o755 if is_dir else 0o644), (rel, oct(mode))


def test_store_keeps_itself_out_of_git(project: Project) -> None:
    """The store writes its own ``.gitignore`` (``*``) and a README saying what it is."""
    fail_once(project)
    lines = (project.store / ".gitignore").read_text().splitlines()
    assert "*" in lines
    assert "invoke-checkpoints" in (project.store / "README.md").read_text()
    if shutil.which("git") is None:
        return
    env = {**Project.env(), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for argv in (["init", "-q"], ["status", "--porcelain", "--untracked-files=all"]):
        proc = subprocess.run(
            ["git", *argv], cwd=project.root, env=env, capture_output=True, text=True, check=True
        )
    listed = proc.stdout.splitlines()
    assert any("tasks.py" in line for line in listed), listed
    assert not any(".checkpoints" in line for line in listed), listed


@pytest.mark.parametrize("fault", ["write:1", "rename:1"])
def test_kill_while_the_store_is_created_still_gets_its_gitignore(
    project: Project, fault: str
) -> None:
    """SIGKILL between creating the store and writing .gitignore/README: the next run
    writes them (the store was once left without them for good)."""
    project.use("fast_steps")
    killed = project.run("workflow", env={"INVOKE_CHECKPOINTS_FAULT": fault})
    assert killed.code == -9, killed.err
    assert project.store.is_dir()
    assert project.invoke("workflow").code == 0
    assert (project.store / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (project.store / "README.md").is_file()


# -- secrets -----------------------------------------------------------------------------

SECRETS = {
    "api_token": "val-api-token-7f3a",
    "clientSecret": "val-client-secret-19c2",
    "DB_PASSWORD": "val-db-password-55e0",
    "passwd": "val-passwd-0b7d",
    "ssh_key": "val-ssh-key-a41c",
    "aws_credentials": "val-aws-credentials-e2d8",
    "Authorization": "val-authorization-6f01",
    "auth_header": "val-auth-header-93bb",
}
NESTED = {"vault_password": "val-nested-password-3c9e", "Service-Token": "val-list-token-d7a0"}
CLEAR = {"user": "val-user-bob", "region": "val-region-eu", "ok": "val-env-visible"}

#: What the fixture project ``secret_args`` reads from secrets.json: deploy's step args and
#: the environment its plugin reports.
SECRETS_JSON = {
    "args": {
        **SECRETS,
        "user": CLEAR["user"],
        "config": {"vault_password": NESTED["vault_password"]},
        "servers": [{"Service-Token": NESTED["Service-Token"], "port": 22}],
    },
    "environment": {
        "vault_token": SECRETS["api_token"],
        "nested": {"Password": SECRETS["DB_PASSWORD"], "ok": CLEAR["ok"]},
        "identities": [{"private_key": SECRETS["ssh_key"]}],
        "region": CLEAR["region"],
    },
}


def test_secret_looking_names_are_never_recorded_in_clear(project: Project) -> None:
    """Step args and environment values under secret-looking names are stored as ``***``,
    on the first run and on resume; grep every byte of the store for the values."""
    project.use("secret_args")
    (project.root / "secrets.json").write_text(json.dumps(SECRETS_JSON))
    (project.root / "fail").touch()
    assert project.invoke("workflow").code == 3
    (project.root / "fail").unlink()
    resumed = project.invoke("workflow", "--resume", "--resume-from=deploy")
    assert resumed.code == 0, resumed.err
    assert log_lines(project) == ["deploy", "deploy"]  # the task did get its args

    every_byte = b"".join(project.snapshot().values())
    assert len(project.snapshot()) > 5
    for value in [*SECRETS.values(), *NESTED.values()]:
        assert value.encode() not in every_byte, value
    for value in CLEAR.values():  # not vacuous: plain values are recorded in clear
        assert value.encode() in every_byte, value

    run = project.only_run()
    args = project.state(run, 0)["args"]
    assert {k: args[k] for k in SECRETS} == dict.fromkeys(SECRETS, "***")
    assert args["user"] == CLEAR["user"]
    assert args["config"] == {"vault_password": "***"}
    assert args["servers"] == [{"Service-Token": "***", "port": 22}]
    env = next(v for k, v in project.checkpoint(run)["environment"].items() if "Vault" in k)
    assert env["vault_token"] == "***"
    assert env["nested"] == {"Password": "***", "ok": CLEAR["ok"]}
    assert env["identities"] == [{"private_key": "***"}]


# -- hostile run ids ---------------------------------------------------------------------

HOSTILE_IDS = [
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "/tmp",
    "..",
    ".",
    "workflow_20260101_000000/../../x",
    "../workflow_20260101_000000",
    "workflow_20260101_000000/state",
    "./workflow_20260101_000000",
    "workflow_20260101_000000\x00",
    "workflow_20260101\x00_000000",
    "workflow_20260101_000000\n",
    " workflow_20260101_000000",
    "workflow_20260101_000000_0",
    "release_20260101_000000",
    "workflow_" + "9" * 300,
    "x" * 5000,
]
ID_COMMANDS = [
    ("workflow", "--resume={}"),
    ("workflow.resume", "--run={}"),
    ("workflow.status", "--run={}"),
    ("workflow.repair", "--run={}"),
    ("workflow", "--resume={}", "--dry-run"),
]


@pytest.mark.parametrize("run_id", HOSTILE_IDS, ids=lambda s: repr(s)[:40])
def test_hostile_run_ids_are_refused(project: Project, tmp_path: Path, run_id: str) -> None:
    """Every command taking a run id refuses these with one line; nothing is touched."""
    fail_once(project)
    before = {k: v for k, v in _tree(tmp_path).items() if ".lock" not in k}
    for command in ID_COMMANDS:
        argv = [arg.format(run_id) for arg in command]
        outcome = project.invoke(*argv)
        assert outcome.code == 2, (argv, outcome)
        assert "invalid run id" in one_line(outcome), outcome.err
    assert {k: v for k, v in _tree(tmp_path).items() if ".lock" not in k} == before
    assert log_lines(project) == ["lint", "test"]


# -- symbolic links in the store ---------------------------------------------------------


def test_symlinked_run_directory_is_invisible(project: Project, tmp_path: Path) -> None:
    """A run-named link to a directory outside the store: resume, status and repair of it
    are refused, clean --all leaves the target alone, a plain resume ignores it."""
    real = fail_once(project)
    outside = tmp_path / "outside" / "victim"
    shutil.copytree(real, outside)
    link = project.store / "workflow_20990101_000000"  # sorts after the real run: "latest"
    link.symlink_to(outside, target_is_directory=True)
    target = _tree(outside)
    for argv in (
        ("workflow", f"--resume={link.name}"),
        ("workflow.status", f"--run={link.name}"),
        ("workflow.repair", f"--run={link.name}"),
    ):
        outcome = project.invoke(*argv)
        assert outcome.code == 2, (argv, outcome)
        assert "no run" in one_line(outcome)
    assert link.name not in project.invoke("workflow.list").out
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert project.checkpoint(real)["status"] == "completed"  # the real run, not the link
    cleaned = project.invoke("workflow.clean", "--all")
    assert cleaned.code == 0, cleaned.err
    assert _tree(outside) == target
    assert not real.exists()


def test_symlinked_state_directory_is_refused(project: Project, tmp_path: Path) -> None:
    """A run whose ``state/`` links elsewhere is never resumed, cleaned or written through."""
    run = fail_once(project)
    outside = tmp_path / "outside"
    shutil.move(run / "state", outside)
    (run / "state").symlink_to(outside, target_is_directory=True)
    target, before = _tree(outside), store_files(project)
    for argv in (("workflow", "--resume"), ("workflow.status",), ("workflow.clean", "--all")):
        outcome = project.invoke(*argv)
        assert outcome.code == 2, (argv, outcome)
        assert "symbolic link" in one_line(outcome)
    listed = project.invoke("workflow.list")
    assert listed.code == 0 and "corrupt" in listed.out, listed
    assert _tree(outside) == target
    assert store_files(project) == before
    assert log_lines(project) == ["lint", "test"]


@pytest.mark.parametrize("rel", ["checkpoint.json", "step_00.complete", "state/step_01_state.json"])
def test_symlinked_run_file_is_never_read_or_written_through(
    project: Project, tmp_path: Path, rel: str
) -> None:
    """A run file replaced by a link to a copy outside the store: resume refuses; repair
    replaces the link by a regular file; the outside copy never changes."""
    run = fail_once(project)
    outside = tmp_path / "outside" / Path(rel).name
    outside.parent.mkdir()
    shutil.move(run / rel, outside)
    (run / rel).symlink_to(outside)
    copy = outside.read_bytes()

    refused = project.invoke("workflow", "--resume")
    assert refused.code == 2, refused
    assert rel in one_line(refused) and "symbolic link" in refused.err
    repaired = project.invoke("workflow.repair")
    assert repaired.code == 0, repaired.err
    assert not (run / rel).is_symlink()
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert project.checkpoint(run)["status"] == "completed"
    assert log_lines(project) == ["lint", "test", "test", "docs"]
    assert outside.read_bytes() == copy
    assert outside.is_file() and not outside.is_symlink()


def test_clean_removes_a_link_inside_a_run_not_its_target(project: Project, tmp_path: Path) -> None:
    run = fail_once(project)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    (run / "extra").symlink_to(outside, target_is_directory=True)
    cleaned = project.invoke("workflow.clean", "--all")
    assert cleaned.code == 0, cleaned.err
    assert project.runs() == []
    assert (outside / "precious.txt").read_text() == "keep me"


def test_symlinked_lock_file_is_refused(project: Project, tmp_path: Path) -> None:
    """A lock file that is a link: one line, exit 2; its target is not truncated."""
    fail_once(project)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (project.store / "workflow.lock").unlink()
    (project.store / "workflow.lock").symlink_to(target)
    outcome = project.invoke("workflow", "--resume")
    assert outcome.code == 2, outcome
    assert "workflow.lock" in one_line(outcome)
    assert target.read_text() == "keep me"
    assert log_lines(project) == ["lint", "test"]
