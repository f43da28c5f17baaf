"""``checkpoints.*`` settings from invoke.yaml, INVOKE_CHECKPOINTS_* and collection config."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import Project, age_run, log_lines, one_line

if TYPE_CHECKING:
    from pathlib import Path

SOURCES = [
    pytest.param("yaml", id="invoke-yaml"),
    pytest.param("env", id="env-var"),
    pytest.param("collection", id="collection-config"),
]


def _configure(project: Project, source: str, key: str, value: Any) -> dict[str, str]:
    """Set ``checkpoints.<key>`` through ``source``; returns the environment to run with."""
    project.use("three_steps")
    if source == "yaml":
        (project.root / "invoke.yaml").write_text(f"checkpoints:\n  {key}: {json.dumps(value)}\n")
    elif source == "collection":
        with (project.root / "tasks.py").open("a") as f:
            f.write(f"ns.configure({{'checkpoints': {{{key!r}: {value!r}}}}})\n")
    else:
        # Invoke's env casting: a boolean is false only for "0" or "" (documented in README).
        text = ("1" if value else "0") if isinstance(value, bool) else str(value)
        return {f"INVOKE_CHECKPOINTS_{key.upper()}": text}
    return {}


@pytest.mark.parametrize("source", SOURCES)
def test_dir_from_each_source(project: Project, source: str) -> None:
    """checkpoints.dir moves the store; a relative dir is beside tasks.py, even from a subdir."""
    env = _configure(project, source, "dir", "state/ckpt")
    sub = project.root / "src" / "deep"
    sub.mkdir(parents=True)
    outcome = project.invoke("workflow", env=env, cwd=sub)
    assert outcome.code == 0, outcome.err
    store = project.root / "state" / "ckpt"
    runs = [p for p in store.iterdir() if p.name.startswith("workflow_")]
    assert len(runs) == 1
    assert project.checkpoint(runs[0])["status"] == "completed"
    assert not project.store.exists()
    assert not (sub / "state").exists()
    status = project.invoke("workflow.status", "--json", env=env)
    assert json.loads(status.out)["run_id"] == runs[0].name


def test_absolute_dir_outside_the_project(project: Project, tmp_path: Path) -> None:
    """An absolute checkpoints.dir is used as it is."""
    elsewhere = tmp_path / "shared-store"
    env = _configure(project, "env", "dir", str(elsewhere))
    assert project.invoke("workflow", env=env).code == 0
    assert len([p for p in elsewhere.iterdir() if p.name.startswith("workflow_")]) == 1
    assert not project.store.exists()


@pytest.mark.parametrize("source", SOURCES)
def test_disabled_runs_steps_plainly_and_writes_nothing(project: Project, source: str) -> None:
    """checkpoints.enabled false: steps run plainly, failures keep their code, nothing written."""
    env = _configure(project, source, "enabled", False)
    files_before = sorted(p.name for p in project.root.iterdir())
    outcome = project.invoke("workflow", env=env)
    assert outcome.code == 0, outcome.err
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran"]

    failing = project.invoke("workflow", env={**env, "FAIL": "1"})
    assert failing.code == 3
    assert log_lines(project)[3:] == ["lint-ran", "test-ran"]
    assert sorted(p.name for p in project.root.iterdir()) == sorted([*files_before, "log.txt"])
    assert not project.store.exists()


def test_disabled_step_still_has_current_step(project: Project) -> None:
    """With checkpoints off, current_step() works: number and name, no run id and no path."""
    project.write(
        """
        from invoke import Collection, task
        from invoke_checkpoints import current_step, workflow

        @task
        def only(c):
            step = current_step()
            with open("seen.txt", "w") as f:
                f.write(f"{step.number} {step.name} [{step.run.workflow_id}] {step.run.path}")

        ns = Collection(only)
        ns.add_collection(workflow(only))
        """
    )
    outcome = project.invoke("workflow", env={"INVOKE_CHECKPOINTS_ENABLED": "0"})
    assert outcome.code == 0, outcome.err
    assert (project.root / "seen.txt").read_text() == "0 only [] None"
    assert not project.store.exists()


@pytest.mark.parametrize("source", SOURCES)
def test_retention_days_from_each_source(project: Project, source: str) -> None:
    """checkpoints.retention_days: a new run removes runs idle for longer, keeps the rest."""
    env = _configure(project, source, "retention_days", 5)
    for _ in range(2):
        assert project.invoke("workflow", env={"INVOKE_CHECKPOINTS_RETENTION_DAYS": "0"}).code == 0
    first, second = project.runs()
    old = age_run(first, 10)
    recent = age_run(second, 2)

    outcome = project.invoke("workflow", env=env)
    assert outcome.code == 0, outcome.err
    names = [p.name for p in project.runs()]
    assert old.name not in names
    assert recent.name in names
    assert len(names) == 2


def test_retention_zero_keeps_everything(project: Project) -> None:
    """checkpoints.retention_days: 0 keeps runs however old they are."""
    env = _configure(project, "yaml", "retention_days", 0)
    assert project.invoke("workflow", env=env).code == 0
    old = age_run(project.only_run(), 400)
    assert project.invoke("workflow", env=env).code == 0
    assert old in project.runs()
    assert len(project.runs()) == 2


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("retention_days", "soon", id="retention-not-a-number"),
        pytest.param("retention_days", -1, id="retention-negative"),
        pytest.param("enabled", "maybe", id="enabled-not-a-bool"),
        pytest.param("fsync", "perhaps", id="fsync-not-a-bool"),
        pytest.param("fsycn", False, id="misspelt-key"),
    ],
)
def test_bad_setting_is_one_line_exit_2(project: Project, key: str, value: object) -> None:
    """A bad checkpoints.* value or unknown key: one line naming it, exit 2, nothing run."""
    _configure(project, "yaml", key, value)
    outcome = project.invoke("workflow")
    assert outcome.code == 2
    assert key in one_line(outcome)
    assert log_lines(project) == []
    assert not any(project.store.glob("workflow_*"))


def _shape(doc: Any) -> Any:
    """A JSON document's keys, recursively, with each value replaced by its type name."""
    if isinstance(doc, dict):
        return {k: _shape(v) for k, v in doc.items()}
    return type(doc).__name__


@pytest.mark.parametrize(
    ("source", "value"),
    [
        pytest.param("yaml", False, id="invoke-yaml"),
        pytest.param("env", False, id="env-var"),
        pytest.param("collection", False, id="collection-config"),
    ],
)
def test_fsync_false_writes_the_same_files_without_fsync(
    project: Project, monkeypatch: pytest.MonkeyPatch, source: str, value: bool
) -> None:
    """checkpoints.fsync false: the same files with the same keys, and no fsync call."""
    calls: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:  # passes through to the real fsync
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    project.use("three_steps")
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    durable = project.only_run()
    durable_calls = len(calls)
    assert durable_calls > 0

    env = _configure(project, source, "fsync", value)
    calls.clear()
    assert project.invoke("workflow", env={**env, "FAIL": "1"}).code == 3
    fast = next(p for p in project.runs() if p != durable)
    assert calls == []

    def files(run: Path) -> list[str]:
        return sorted(str(p.relative_to(run)) for p in run.rglob("*"))

    assert files(fast) == files(durable)
    for name in ["checkpoint.json", "state/step_00_state.json", "state/step_01_state.json"]:
        a = json.loads((durable / name).read_text())
        b = json.loads((fast / name).read_text())
        a.pop("metadata", None), b.pop("metadata", None)
        assert _shape(a) == _shape(b), name
    marker_keys = [line.split("=")[0] for line in (fast / "step_00.complete").read_text().split()]
    assert marker_keys == ["STEP", "NAME", "COMPLETED_AT", "DURATION_SECONDS", "EXIT_CODE"]

    assert project.invoke("workflow", "--resume", env=env).code == 0
    assert project.checkpoint(fast)["status"] == "completed"
    assert calls == []


@pytest.mark.parametrize(
    "cwd",
    [pytest.param(".", id="project-root"), pytest.param("sub/dir", id="subdirectory")],
)
def test_real_process_uses_store_beside_tasks_py(project: Project, cwd: str) -> None:
    """A real `invoke` run from the project or a subdirectory uses <project>/.checkpoints."""
    project.use("three_steps")
    where = project.root / cwd
    where.mkdir(parents=True, exist_ok=True)
    outcome = project.run("workflow", cwd=where, env={"FAIL": "1"})
    assert outcome.code == 3, outcome
    run = project.only_run()
    assert project.checkpoint(run)["project_path"] == str(project.root)
    assert not (where / ".checkpoints").exists() or where == project.root
    resumed = project.run("workflow", "--resume", cwd=where)
    assert resumed.code == 0, resumed
    assert project.only_run() == run


def test_search_root_from_elsewhere(project: Project, tmp_path: Path) -> None:
    """`invoke -r <project>` from another directory still uses the project's store."""
    project.use("three_steps")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outcome = project.invoke("-r", str(project.root), "workflow", cwd=elsewhere)
    assert outcome.code == 0, outcome.err
    assert project.checkpoint(project.only_run())["status"] == "completed"
    assert list(elsewhere.iterdir()) == [elsewhere / "log.txt"]


def test_workflow_defined_in_another_module_uses_tasks_py_store(project: Project) -> None:
    """workflow() called in pipelines/defs.py: the store is beside the tasks.py Invoke loaded."""
    project.write(
        """
        from invoke import task
        from invoke_checkpoints import workflow

        @task
        def build(c):
            c.run("echo build-ran >> log.txt")

        flow = workflow(build)
        """,
        name="pipelines/defs.py",
    )
    project.write("", name="pipelines/__init__.py")
    project.write(
        """
        from invoke import Collection
        from pipelines.defs import flow

        ns = Collection()
        ns.add_collection(flow)
        """
    )
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    assert project.checkpoint(project.only_run())["status"] == "completed"
    assert not (project.root / "pipelines" / ".checkpoints").exists()


# -- issue #12: every key type-checked, environment booleans parsed strictly -------------------


@pytest.mark.parametrize("text", ["false", "FALSE", "no", "off", "0", "  Off "])
def test_env_false_words_switch_checkpointing_off(project: Project, text: str) -> None:
    """INVOKE_CHECKPOINTS_ENABLED=false means false (Invoke alone casts it to true)."""
    project.use("three_steps")
    outcome = project.invoke("workflow", env={"INVOKE_CHECKPOINTS_ENABLED": text})
    assert outcome.code == 0, outcome.err
    assert not any(project.store.glob("workflow_*"))


def test_env_boolean_beats_a_config_file_boolean(project: Project) -> None:
    """A file says true, the environment says "false": false (Invoke would cast it to true)."""
    project.use("three_steps")
    (project.root / "invoke.yaml").write_text("checkpoints:\n  enabled: true\n")
    outcome = project.invoke("workflow", env={"INVOKE_CHECKPOINTS_ENABLED": "false"})
    assert outcome.code == 0, outcome.err
    assert not any(project.store.glob("workflow_*"))


@pytest.mark.parametrize(
    ("key", "text"),
    [
        pytest.param("enabled", "maybe", id="enabled"),
        pytest.param("fsync", "yess", id="fsync"),
        pytest.param("retention_days", "soon", id="retention-days"),
        pytest.param("retention_days", "inf", id="retention-days-infinite"),
        pytest.param("retention_days", "nan", id="retention-days-nan"),
        pytest.param("max_workers", "abc", id="max-workers"),
        pytest.param("max_workers", "-1", id="max-workers-negative"),
        pytest.param("dir", "", id="dir-empty"),
        pytest.param("dir", "   ", id="dir-blank"),
    ],
)
def test_bad_env_value_is_one_line_exit_2(project: Project, key: str, text: str) -> None:
    """A bad INVOKE_CHECKPOINTS_<KEY>: one line naming key, value and expected type, exit 2,
    nothing run or written (an empty dir would have made the project root the store)."""
    project.use("three_steps")
    outcome = project.run("workflow", env={f"INVOKE_CHECKPOINTS_{key.upper()}": text})
    assert outcome.code == 2, outcome
    line = one_line(outcome)
    assert f"checkpoints.{key}" in line
    assert repr(text) in line
    assert "must be" in line
    assert log_lines(project) == []
    assert not (project.root / "README.md").exists()
    assert not project.store.exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("dir", "", id="dir-empty"),
        pytest.param("dir", 5, id="dir-not-a-string"),
        pytest.param("retention_days", True, id="retention-bool"),
        pytest.param("retention_days", [1], id="retention-list"),
        pytest.param("fsync", 1, id="fsync-int"),
        pytest.param("enabled", "sometimes", id="enabled-word"),
        pytest.param("max_workers", -1, id="max-workers-negative"),
        pytest.param("max_workers", 1.5, id="max-workers-fraction"),
        pytest.param("plugins", 7, id="plugins-not-a-list"),
    ],
)
@pytest.mark.parametrize("source", ["yaml", "collection"])
def test_bad_typed_value_is_one_line_exit_2(
    project: Project, source: str, key: str, value: object
) -> None:
    _configure(project, source, key, value)
    outcome = project.invoke("workflow")
    assert outcome.code == 2, outcome.err
    line = one_line(outcome)
    assert f"checkpoints.{key}" in line
    assert repr(value) in line
    assert log_lines(project) == []


def test_fractional_retention_days_are_accepted(project: Project) -> None:
    env = _configure(project, "yaml", "retention_days", 1.5)
    assert project.invoke("workflow", env=env).code == 0
    old = age_run(project.only_run(), 2)
    assert project.invoke("workflow", env=env).code == 0
    assert old not in project.runs()


def test_list_keys_from_the_environment(project: Project) -> None:
    """INVOKE_CHECKPOINTS_DISABLE_PLUGINS=a,b is a list (Invoke alone refuses to cast it)."""
    project.use("three_steps")
    outcome = project.run(
        "workflow.plugins", env={"INVOKE_CHECKPOINTS_DISABLE_PLUGINS": "smart, reporter"}
    )
    assert outcome.code == 0, outcome
    assert "smart" in outcome.out
    assert "disabled" in outcome.out


def test_max_workers_flag_not_a_number_is_one_line(project: Project) -> None:
    project.use("three_steps")
    outcome = project.run("workflow", "--max-workers=abc")
    assert outcome.code == 2, outcome
    assert "--max-workers" in one_line(outcome)
    assert not project.store.exists()


@pytest.mark.parametrize(
    "name", ["INVOKE_CHECKPOINTS_DEBUG", "INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"]
)
def test_package_env_flags_are_strict(project: Project, name: str) -> None:
    project.use("three_steps")
    outcome = project.run("workflow", env={name: "perhaps"})
    assert outcome.code == 2, outcome
    assert name in one_line(outcome)
    assert log_lines(project) == []
