"""Plugins: where they come from (built-ins, entry points, config, workflow()), blocking them,
the listing, load errors, and the example plugin package installed for real."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import pytest

from .conftest import Project
from .plugin_support import (
    AUTOLOAD_OFF,
    AUTOLOAD_ON,
    FAKE_PLUGIN,
    error_lines,
    events,
    fake_distribution,
    trail,
    write_tasks,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "notify_plugin"


# -- discovery and control -------------------------------------------------------------------


@pytest.mark.parametrize(("env", "loaded"), [(AUTOLOAD_ON, True), (AUTOLOAD_OFF, False)])
def test_entry_point_plugins_load_unless_autoload_is_off(
    project: Project,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    loaded: bool,
) -> None:
    """An installed distribution's ``invoke_checkpoints`` entry point is a plugin."""
    module = fake_distribution(tmp_path / "site", monkeypatch, FAKE_PLUGIN)
    write_tasks(project)
    outcome = project.invoke("workflow", env=env)
    assert outcome.code == 0, outcome.err
    environment = project.checkpoint(project.only_run())["environment"]
    assert (environment.get("fake") == {"loaded": True}) is loaded
    assert (module in sys.modules) is loaded


FAILING_PLUGIN = """
from invoke_checkpoints import hookimpl

@hookimpl(tryfirst=True)
def checkpoints_workflow_start(run):
    raise RuntimeError("the chat server is down")

@hookimpl
def checkpoints_environment(run):
    return {"loaded": True}
"""


def test_entry_points_load_through_pluggy_and_are_isolated(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pluggy's load_setuptools_entrypoints loads the group, and what it registers is isolated
    like any plugin: its error is reported and the other plugins still get the event."""
    groups: list[str] = []
    load = pluggy.PluginManager.load_setuptools_entrypoints

    def spy(pm: pluggy.PluginManager, group: str, name: str | None = None) -> int:
        groups.append(group)
        return load(pm, group, name)

    monkeypatch.setattr(pluggy.PluginManager, "load_setuptools_entrypoints", spy)
    fake_distribution(tmp_path / "site", monkeypatch, FAILING_PLUGIN)
    write_tasks(project)
    outcome = project.invoke("workflow", env=AUTOLOAD_ON)
    assert outcome.code == 0, outcome.err
    assert groups == ["invoke_checkpoints"]
    message = (
        "plugin 'fake' failed in checkpoints_workflow_start: RuntimeError: the chat server is down"
    )
    assert error_lines(outcome) == [f"invoke-checkpoints: {message}"]
    assert trail(events(project))[:2] == ["environment", "workflow_start"]
    cp = project.checkpoint(project.only_run())
    assert (cp["environment"]["fake"], cp["warnings"]) == ({"loaded": True}, [message])


def test_workflow_plugins_lists_every_plugin_and_its_distribution(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`workflow.plugins`: name, then where it came from; disabled names last."""
    from invoke_checkpoints import __version__

    fake_distribution(tmp_path / "site", monkeypatch, FAKE_PLUGIN)
    configured = fake_distribution(
        tmp_path / "site", monkeypatch, FAKE_PLUGIN, dist="cfg-dist", entry_point=None
    )
    write_tasks(
        project,
        plugins="Recorder(), Recorder(), sys.modules[__name__]",
        config=f'{{"plugins": ["{configured}"], "disable_plugins": ["reporter", "nosuch"]}}',
    )
    project.write("import sys\n" + (project.root / "tasks.py").read_text())
    outcome = project.invoke("workflow.plugins", env=AUTOLOAD_ON)
    assert outcome.code == 0, outcome.err
    rows = [
        ("environment", f"built-in (invoke-checkpoints {__version__})"),
        ("smart", f"built-in (invoke-checkpoints {__version__})"),
        ("fake", "fake-checkpoints-plugin 1.2.3 (entry point)"),
        (configured, f"cfg-dist 1.2.3, {configured} (checkpoints.plugins)"),
        ("tasks.Recorder", "tasks (workflow(plugins=...))"),
        ("tasks.Recorder#2", "tasks (workflow(plugins=...))"),
        ("tasks", "tasks (workflow(plugins=...))"),
        ("reporter", "(disabled by checkpoints.disable_plugins)"),
        ("nosuch", "(disabled by checkpoints.disable_plugins)"),
    ]
    width = len(configured)
    assert outcome.out.splitlines() == [f"{name:<{width}}  {origin}" for name, origin in rows]


#: How to see, from stdout, checkpoint.json and the Recorder's events, that a plugin was active.
PLUGIN_EFFECTS: dict[str, Callable[[str, dict[str, Any], list[dict[str, Any]]], bool]] = {
    "environment": lambda out, cp, rows: "python_version" in cp["environment"],
    "reporter": lambda out, cp, rows: "[1/3] lint" in out,
    "tasks.Recorder": lambda out, cp, rows: bool(rows),
    "fake": lambda out, cp, rows: cp["environment"].get("fake") == {"loaded": True},
    "CONFIGURED": lambda out, cp, rows: cp["environment"].get("CONFIGURED") == {"loaded": True},
}


@pytest.mark.parametrize("blocked", sorted(PLUGIN_EFFECTS))
def test_disable_plugins_blocks_exactly_the_named_plugin(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocked: str
) -> None:
    """checkpoints.disable_plugins works for built-ins, entry points, config and workflow()."""
    fake_distribution(tmp_path / "site", monkeypatch, FAKE_PLUGIN)
    configured = fake_distribution(
        tmp_path / "site", monkeypatch, FAKE_PLUGIN, dist="cfg-dist", entry_point=None
    )
    name = configured if blocked == "CONFIGURED" else blocked
    config = f'{{"plugins": ["{configured}"], "disable_plugins": ["{name}"]}}'
    write_tasks(project, config=config)
    outcome = project.invoke("workflow", env=AUTOLOAD_ON)
    assert outcome.code == 0, outcome.err
    cp = project.checkpoint(project.only_run())
    cp["environment"]["CONFIGURED"] = cp["environment"].pop(configured, None)
    active = {
        plugin
        for plugin, effect in PLUGIN_EFFECTS.items()
        if effect(outcome.out, cp, events(project))
    }
    assert active == set(PLUGIN_EFFECTS) - {blocked}
    listing = project.invoke("workflow.plugins", env=AUTOLOAD_ON).out.splitlines()
    mentions = [line for line in listing if line.split()[0] == name]
    assert len(mentions) == 1
    disabled = rf"{re.escape(name)} +\(disabled by checkpoints\.disable_plugins\)"
    assert re.fullmatch(disabled, mentions[0])


def test_a_broken_entry_point_stops_the_command_until_disabled(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed plugin that cannot import is named, with how to switch it off."""
    fake_distribution(tmp_path / "site", monkeypatch, "raise ImportError('no module named x')\n")
    write_tasks(project)
    outcome = project.invoke("workflow", env=AUTOLOAD_ON)
    assert outcome.code == 2
    assert (
        "plugin 'fake' (entry point of fake-checkpoints-plugin 1.2.3) cannot be loaded: "
        "ImportError: no module named x; block it with checkpoints.disable_plugins: [fake]"
    ) in outcome.err
    assert project.runs() == []
    write_tasks(project, config='{"disable_plugins": ["fake"]}')
    assert project.invoke("workflow", env=AUTOLOAD_ON).code == 0


def test_config_plugins_must_import(project: Project) -> None:
    """A misspelt module in checkpoints.plugins is an error, not silently ignored."""
    write_tasks(project, config='{"plugins": ["no_such_plugin_module"]}')
    outcome = project.invoke("workflow")
    assert outcome.code == 2
    assert "config checkpoints.plugins: cannot import 'no_such_plugin_module'" in outcome.err
    assert project.runs() == []


# -- the example plugin package, installed for real ------------------------------------------


@pytest.fixture(scope="module")
def notify_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/notify_plugin built and installed by pip into a directory of its own."""
    pytest.importorskip("hatchling", reason="building the example needs hatchling installed")
    site = tmp_path_factory.mktemp("notify") / "site"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-index", "--no-deps", "--no-build-isolation", "--target", str(site)),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return site


@pytest.mark.slow
def test_example_notify_plugin_logs_a_fail_then_resume_cycle(
    project: Project, notify_site: Path
) -> None:
    """pip-installed, found by its entry point; real processes; one JSON line per event."""
    write_tasks(project, plugins="")
    env = {"PYTHONPATH": str(notify_site), **AUTOLOAD_ON}
    listing = project.run("workflow.plugins", env=env)
    assert re.search(
        r"^notify +invoke-checkpoints-notify 0\.1\.0 \(entry point\)$", listing.out, re.MULTILINE
    ), listing
    assert project.run("workflow", env={**env, "FAIL": "1"}).code == 3
    resumed = project.run("workflow", "--resume", env=env)
    assert resumed.code == 0, resumed.err
    run = project.only_run()
    log = run / "events.jsonl"
    assert project.checkpoint(run)["environment"]["notify"] == {"log": str(log)}
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["event"], r.get("step")) for r in rows] == [
        ("workflow_start", None),
        ("step_start", 0),
        ("step_complete", 0),
        ("step_start", 1),
        ("step_failed", 1),
        ("workflow_finish", None),
        ("workflow_start", None),
        ("step_skipped", 0),
        ("step_start", 1),
        ("step_complete", 1),
        ("step_start", 2),
        ("step_complete", 2),
        ("workflow_finish", None),
    ]
    assert {(r["workflow"], r["workflow_id"]) for r in rows} == {("workflow", run.name)}
    assert len({r["pid"] for r in rows[:6]}) == len({r["pid"] for r in rows[6:]}) == 1
    assert rows[0]["pid"] != rows[6]["pid"]
    failed = rows[4]
    assert (failed["status"], failed["exit_code"], failed["step_name"]) == ("failed", 3, "test")
    assert failed["error"].startswith("UnexpectedExit: ")
    assert rows[7]["reason"] == "already_complete"
    assert [r["status"] for r in rows if r["event"] == "workflow_finish"] == ["failed", "completed"]

    elsewhere = project.root / "logs" / "all.jsonl"
    again = project.run("workflow", env={**env, "CHECKPOINTS_NOTIFY_LOG": "logs/all.jsonl"})
    assert again.code == 0, again.err
    assert [json.loads(line)["event"] for line in elsewhere.read_text().splitlines()] == [
        "workflow_start",
        *("step_start", "step_complete") * 3,
        "workflow_finish",
    ]


def test_the_entry_point_prefilter_sees_a_declaring_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plugins/discovery.py skips importlib.metadata's scan only when no distribution on
    sys.path declares the group; one that does is seen (and then loaded by pluggy)."""
    from invoke_checkpoints.plugins.discovery import may_declare

    assert may_declare("no_such_group_for_invoke_checkpoints_tests") is False
    fake_distribution(tmp_path / "site", monkeypatch, FAKE_PLUGIN, entry_point="fake")
    assert may_declare("invoke_checkpoints") is True
    assert may_declare("no_such_group_for_invoke_checkpoints_tests") is False
