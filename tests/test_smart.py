"""Smart execution: a step with inputs is skipped when inputs, args and code are unchanged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from invoke_checkpoints.plugins.fingerprint import HashCache
from invoke_checkpoints.store.runs import Store

from .conftest import Project, log_lines

#: Adds a space to the body of ``build`` in the fixture project ``smart``: its code changes.
EDIT_BUILD = ('echo build-ran >> log.txt"', 'echo build-ran >> log.txt" ')


@pytest.fixture
def smart_project(project: Project) -> Project:
    project.use("smart")
    (project.root / "src" / "pkg").mkdir(parents=True)
    (project.root / "src" / "pkg" / "a.py").write_text("A = 1\n")
    return project


def _skipped(project: Project, run: Path) -> dict[str, object]:
    smart: dict[str, object] = project.checkpoint(run)["smart_execution"]
    return smart


def test_unchanged_step_is_skipped_with_reason(smart_project: Project) -> None:
    """Second run: the step with inputs is skipped (no_relevant_changes); the other runs."""
    assert smart_project.invoke("workflow").code == 0
    second = smart_project.invoke("workflow")
    assert second.code == 0, second.err
    assert "[1/2] build: skipped (no_relevant_changes)" in second.out
    assert log_lines(smart_project) == ["build-ran", "always-ran", "always-ran"]
    run = smart_project.runs()[-1]
    state = smart_project.state(run, 0)
    assert (state["status"], state["reason"]) == ("skipped", "no_relevant_changes")
    smart = _skipped(smart_project, run)
    assert smart["enabled"] is True
    assert smart["skipped_steps"] == [0]
    assert smart["skip_reason"] == "no_relevant_changes"
    assert smart_project.checkpoint(run)["status"] == "completed"


@pytest.mark.parametrize(
    "change",
    ["file-content", "file-added", "file-removed", "args", "code"],
)
def test_change_makes_step_run_again(smart_project: Project, change: str) -> None:
    """Changing an input file, the set of files, the args or the task's code re-runs it."""
    assert smart_project.invoke("workflow").code == 0
    env: dict[str, str] = {}
    src = smart_project.root / "src" / "pkg"
    if change == "file-content":
        (src / "a.py").write_text("A = 2\n")
    elif change == "file-added":
        (src / "b.py").write_text("B = 1\n")
    elif change == "file-removed":
        (src / "b.py").write_text("B = 1\n")
        assert smart_project.invoke("workflow").code == 0  # records the two-file fingerprint
        (src / "b.py").unlink()
    elif change == "args":
        env["FLAVOUR"] = "fancy"
    else:
        smart_project.edit(*EDIT_BUILD)
    before = log_lines(smart_project).count("build-ran")
    out = smart_project.invoke("workflow", env=env)
    assert out.code == 0, out.err
    assert log_lines(smart_project).count("build-ran") == before + 1


def test_explain_names_the_changed_file(smart_project: Project) -> None:
    """--explain says which input changed; --dry-run says the same and writes nothing."""
    assert smart_project.invoke("workflow").code == 0
    (smart_project.root / "src" / "pkg" / "a.py").write_text("A = 3\n")
    before = smart_project.snapshot()
    dry = smart_project.invoke("workflow", "--dry-run")
    assert "run (input files changed: src/pkg/a.py)" in dry.out
    assert "always  run (no inputs declared" in dry.out
    assert smart_project.snapshot() == before
    explained = smart_project.invoke("workflow", "--explain")
    assert explained.code == 0
    assert "input files changed: src/pkg/a.py" in explained.out
    assert log_lines(smart_project).count("build-ran") == 2


def test_explain_reports_args_and_code_and_never_run(smart_project: Project) -> None:
    """Reasons cover a step never run, changed args and changed code."""
    first = smart_project.invoke("workflow", "--dry-run").out
    assert "never run" in first
    assert smart_project.invoke("workflow").code == 0
    smart_project.edit(*EDIT_BUILD)
    out = smart_project.invoke("workflow", "--dry-run", env={"FLAVOUR": "x"}).out
    assert "args changed" in out
    assert "code changed" in out


@pytest.mark.parametrize(
    ("argv", "env"),
    [(["--no-smart"], {}), ([], {"INVOKE_CHECKPOINTS_SMART_EXECUTION": ""})],
    ids=["flag", "config"],
)
def test_smart_execution_can_be_switched_off(
    smart_project: Project, argv: list[str], env: dict[str, str]
) -> None:
    """--no-smart or checkpoints.smart_execution=false runs every step."""
    assert smart_project.invoke("workflow").code == 0
    out = smart_project.invoke("workflow", *argv, env=env)
    assert out.code == 0
    assert log_lines(smart_project).count("build-ran") == 2
    assert smart_project.checkpoint(smart_project.runs()[-1])["smart_execution"]["enabled"] is False


def test_blocking_the_builtin_disables_skipping(smart_project: Project) -> None:
    """The rule is a plugin: blocking 'smart' leaves nothing that skips."""
    assert smart_project.invoke("workflow").code == 0
    (smart_project.root / "invoke.yaml").write_text("checkpoints:\n  disable_plugins: [smart]\n")
    assert smart_project.invoke("workflow").code == 0
    assert log_lines(smart_project).count("build-ran") == 2


def test_hash_cache_reads_each_file_once(tmp_path: Path) -> None:
    """A file is hashed once per (path, size, mtime), across processes; a modification that
    changes size or mtime is hashed again."""
    store = Store(tmp_path / "store")
    store.ensure()
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 1000)
    stamp = data.stat().st_mtime_ns
    cache = HashCache(store, "cache.json")
    first = cache.digest(data, "data.bin")
    cache.save()
    # Same size and mtime, other content: the cached digest is trusted, the file is not read.
    data.write_bytes(b"y" * 1000)
    os.utime(data, ns=(stamp, stamp))
    assert cache.digest(data, "data.bin") == first
    reloaded = HashCache(store, "cache.json")
    assert reloaded.digest(data, "data.bin") == first
    os.utime(data, ns=(1, 1))
    assert reloaded.digest(data, "data.bin") != first
