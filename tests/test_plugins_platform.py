"""What a plugin author gets: its own config, step metadata, read access to the run, step
wrappers; written with the helper plugin authors use (``invoke_checkpoints.testing``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from invoke_checkpoints.testing import WorkflowProject

HEADER = """
import json, os, time
from pathlib import Path
from invoke import Collection, task
from invoke_checkpoints import Step, hookimpl, workflow

SEEN = Path(__file__).resolve().parent / "seen.jsonl"

def see(**row):
    with SEEN.open("a") as fh:
        fh.write(json.dumps(row, default=str) + "\\n")

@task
def lint(c):
    pass

@task
def test(c):
    pass

@task
def docs(c):
    pass
"""


def seen(project: WorkflowProject) -> list[dict[str, Any]]:
    path = project.root / "seen.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def write(project: WorkflowProject, plugin: str, steps: str = "lint, test, docs") -> None:
    project.write(
        HEADER
        + plugin
        + f"\nns = Collection()\nns.add_collection(workflow({steps}, plugins=[Plugin()]))\n"
    )


# -- config ----------------------------------------------------------------------------------

CONFIG_PLUGIN = """
class Plugin:
    @hookimpl
    def checkpoints_workflow_start(self, run):
        mine = run.config("webhook")
        mine["url"] = "changed by the plugin"  # a copy: nobody else sees this
        see(config=run.config("webhook"), other=run.config("nobody"))
"""


def test_plugin_config_is_the_plugins_own_business(workflow_project: WorkflowProject) -> None:
    """``checkpoints.plugin_config.<name>`` reaches ``run.config(name)``; unknown keys inside it
    are not a checkpoints.* error; a plugin without a section gets ``{}``."""
    write(workflow_project, CONFIG_PLUGIN)
    section = {"url": "http://127.0.0.1:9/hook", "anything": {"nested": [1, 2]}}
    workflow_project.configure(plugin_config={"webhook": section})
    result = workflow_project.run()
    assert result.code == 0, result.err
    assert seen(workflow_project) == [{"config": section, "other": {}}]


def test_plugin_config_must_be_a_mapping_of_mappings(workflow_project: WorkflowProject) -> None:
    """A section that is not a mapping is one clear line, exit 2, nothing written."""
    write(workflow_project, CONFIG_PLUGIN)
    workflow_project.configure(plugin_config={"webhook": ["not", "a", "mapping"]})
    result = workflow_project.run()
    assert result.code == 2
    assert result.err.strip() == (
        "invoke-checkpoints: config checkpoints.plugin_config.webhook must be a mapping of "
        "settings, got ['not', 'a', 'mapping']"
    )
    assert workflow_project.runs() == []


@pytest.mark.parametrize("key", ["DISABLE_PLUGINS", "PLUGINS"])
def test_list_keys_are_settable_from_env_vars(workflow_project: WorkflowProject, key: str) -> None:
    """``INVOKE_CHECKPOINTS_DISABLE_PLUGINS=a,b`` and ``INVOKE_CHECKPOINTS_PLUGINS=a,b``."""
    write(workflow_project, CONFIG_PLUGIN)
    workflow_project.write(
        "from invoke_checkpoints import hookimpl\n\n@hookimpl\ndef checkpoints_workflow_start():"
        "\n    print('extra plugin here')\n",
        "extra_plugin.py",
    )
    if key == "DISABLE_PLUGINS":
        env = {"INVOKE_CHECKPOINTS_DISABLE_PLUGINS": "reporter, smart"}
        listing = workflow_project.run("workflow.plugins", env=env)
        assert listing.code == 0, listing.err
        disabled = [line.split()[0] for line in listing.lines if "(disabled by" in line]
        assert disabled == ["reporter", "smart"]
        result = workflow_project.run(env=env)
        assert "workflow workflow" not in result.out  # the reporter is off
    else:
        env = {"INVOKE_CHECKPOINTS_PLUGINS": "extra_plugin,"}
        result = workflow_project.run(env={**env, "PYTHONPATH": str(workflow_project.root)})
        assert "extra plugin here" in result.out, result.err
    assert result.code == 0, result.err


# -- step metadata and read access -----------------------------------------------------------

METADATA_PLUGIN = """
class Plugin:
    @hookimpl
    def checkpoints_should_skip_step(self, run, step):
        see(hook="should_skip", step=step.name, tags=sorted(step.tags), meta=step.meta,
            group=step.group, dry_run=run.options.dry_run, enabled=run.enabled)

    @hookimpl
    def checkpoints_step_complete(self, run, step, state):
        previous = run.state_of(step.number - 1) if step.number else None
        see(hook="complete", step=step.name, own=run.state_of(step.name).status.value,
            previous=previous.status.value if previous else None,
            started_at=run.started_at.isoformat(), resume=run.options.resume,
            rerun_from=run.options.rerun_from, smart=run.options.smart)
"""
TAGGED = 'Step(lint, tags={"fast"}, meta={"owner": "qa"}), [Step(test, tags=["slow", "ci"]), docs]'


def test_step_tags_meta_and_group_reach_hooks_status_and_plan(
    workflow_project: WorkflowProject,
) -> None:
    """``step.tags`` / ``step.meta`` / ``step.group`` in every hook, status --json, the plan."""
    write(workflow_project, METADATA_PLUGIN, steps=TAGGED)
    plan = workflow_project.run("workflow", "--dry-run")
    assert plan.code == 0, plan.err
    assert "[group 0] [tags: ci, slow]" in plan.out
    assert "[tags: fast]" in plan.out
    result = workflow_project.run()
    assert result.code == 0, result.err
    asked = [row for row in seen(workflow_project) if row["hook"] == "should_skip"]
    assert asked[:3] == [
        {"hook": "should_skip", "step": "lint", "tags": ["fast"], "meta": {"owner": "qa"},
         "group": None, "dry_run": True, "enabled": True},
        {"hook": "should_skip", "step": "test", "tags": ["ci", "slow"], "meta": {},
         "group": 0, "dry_run": True, "enabled": True},
        {"hook": "should_skip", "step": "docs", "tags": [], "meta": {}, "group": 0,
         "dry_run": True, "enabled": True},
    ]  # fmt: skip
    assert [row["dry_run"] for row in asked[3:]] == [False] * 3
    status = workflow_project.status()
    assert [(s["tags"], s["meta"], s["group"]) for s in status["steps"]] == [
        (["fast"], {"owner": "qa"}, None),
        (["ci", "slow"], {}, 0),
        ([], {}, 0),
    ]


def test_run_gives_step_states_start_time_and_options(workflow_project: WorkflowProject) -> None:
    """``run.state_of`` (this step and an earlier one), ``run.started_at`` (kept across a
    resume) and the options in force (``--no-smart``, resume, rerun-from)."""
    write(workflow_project, METADATA_PLUGIN)
    first = workflow_project.run("workflow", "--no-smart")
    assert first.code == 0, first.err
    again = workflow_project.run("workflow", "--resume-from=test")
    assert again.code == 0, again.err
    rows = [row for row in seen(workflow_project) if row["hook"] == "complete"]
    assert [(r["step"], r["own"], r["previous"]) for r in rows] == [
        ("lint", "completed", None),
        ("test", "completed", "completed"),
        ("docs", "completed", "completed"),
        ("test", "completed", "completed"),
        ("docs", "completed", "completed"),
    ]
    assert [(r["smart"], r["resume"], r["rerun_from"]) for r in rows] == [
        (False, False, None),
    ] * 3 + [(False, True, 1)] * 2  # --no-smart is kept with the run
    assert first.checkpoint is not None
    started = first.checkpoint["started_at"].replace("Z", "+00:00")
    assert {r["started_at"] for r in rows} == {started}


def test_without_checkpoints_a_plugin_sees_enabled_false(workflow_project: WorkflowProject) -> None:
    """``checkpoints.enabled: false`` is ``run.enabled`` false, not a dry run; ``state_of``
    still answers from what this invocation recorded."""
    write(workflow_project, METADATA_PLUGIN)
    workflow_project.configure(enabled=False)
    result = workflow_project.run()
    assert result.code == 0, result.err
    rows = seen(workflow_project)
    assert {(r["enabled"], r["dry_run"]) for r in rows if r["hook"] == "should_skip"} == {
        (False, False)
    }
    assert [r["own"] for r in rows if r["hook"] == "complete"] == ["completed"] * 3


# -- wrappers --------------------------------------------------------------------------------

WRAPPERS = """
import invoke

class Plugin:
    @hookimpl(wrapper=True)
    def checkpoints_run_step(self, step, execute):
        see(hook="before", step=step.name)
        try:
            result = yield
        except invoke.UnexpectedExit:
            if os.environ.get("RETRY") != step.name:
                raise
            see(hook="retry", step=step.name)
            return execute()
        see(hook="after", step=step.name, result=result)
        if os.environ.get("BREAK_AFTER") == step.name:
            raise RuntimeError("wrapper bug after yield")
        return result

class Old:
    @hookimpl(hookwrapper=True)
    def checkpoints_run_step(self, step):
        if os.environ.get("BREAK_BEFORE") == step.name:
            raise RuntimeError("wrapper bug before yield")
        outcome = yield
        see(hook="old", step=step.name, failed=outcome.exception is not None)

@task
def flaky(c):
    marker = Path("flaky-once")
    if not marker.exists():
        marker.touch()
        c.run("exit 4")
    return "second time lucky"

@task
def answer(c):
    time.sleep(0.3)
    return 42
"""


def write_wrappers(project: WorkflowProject) -> None:
    project.write(
        HEADER
        + WRAPPERS
        + "\nns = Collection()\n"
        + "ns.add_collection(workflow(answer, flaky, plugins=[Plugin(), Old()]))\n"
    )


def test_run_step_wrappers_see_and_retry_the_step(workflow_project: WorkflowProject) -> None:
    """A new-style wrapper sees the result, retries a failure with ``execute()``; an old-style
    ``hookwrapper`` sees the outcome; the step keeps the retried result."""
    write_wrappers(workflow_project)
    result = workflow_project.run(env={"RETRY": "flaky"})
    assert result.code == 0, result.err
    assert [(r["hook"], r["step"]) for r in seen(workflow_project)] == [
        ("before", "answer"),
        ("after", "answer"),
        ("old", "answer"),
        ("before", "flaky"),
        ("retry", "flaky"),
        ("old", "flaky"),
    ]
    assert result.states[0]["outputs"] == {"result": 42}
    assert result.states[1]["outputs"] == {"result": "second time lucky"}
    assert result.markers == [0, 1]


def test_a_failure_not_retried_fails_the_step(workflow_project: WorkflowProject) -> None:
    """Without the retry the wrapper re-raises: the step fails with the task's exit code."""
    write_wrappers(workflow_project)
    result = workflow_project.run()
    assert result.code == 4
    assert result.states[1]["status"] == "failed"


@pytest.mark.parametrize("where", ["BREAK_BEFORE", "BREAK_AFTER"])
def test_a_broken_wrapper_is_reported_and_the_step_keeps_its_outcome(
    workflow_project: WorkflowProject, where: str
) -> None:
    """A wrapper raising before or after ``yield`` is one reported line; the step succeeds."""
    write_wrappers(workflow_project)
    result = workflow_project.run(env={where: "answer", "RETRY": "flaky"})
    assert result.code == 0, result.err
    plugin = "tasks.Old" if where == "BREAK_BEFORE" else "tasks.Plugin"
    when = "before" if where == "BREAK_BEFORE" else "after"
    error = f"RuntimeError: wrapper bug {when} yield"
    line = f"plugin {plugin!r} failed in checkpoints_run_step: {error}"
    assert f"invoke-checkpoints: {line}" in result.err.splitlines()
    assert result.states[0]["outputs"] == {"result": 42}
    assert result.checkpoint is not None
    assert result.checkpoint["warnings"] == [line]


SLOW_WRAPPER = """
class Plugin:
    @hookimpl(wrapper=True)
    def checkpoints_run_step(self, step):
        time.sleep(1.0)
        return (yield)

    @hookimpl
    def checkpoints_step_start(self, step):
        time.sleep(1.0)
"""


def test_durations_count_the_task_not_hooks_or_wrappers(workflow_project: WorkflowProject) -> None:
    """A 1 s wrapper and a 1 s step_start hook around a 0.3 s task: about 0.3 s recorded."""
    workflow_project.write(
        HEADER
        + WRAPPERS.split("class Plugin", maxsplit=1)[0]
        + SLOW_WRAPPER
        + "\n@task\ndef answer(c):\n    time.sleep(0.3)\n"
        + "\nns = Collection()\nns.add_collection(workflow(answer, plugins=[Plugin()]))\n"
    )
    result = workflow_project.run()
    assert result.code == 0, result.err
    assert 0.3 <= result.states[0]["duration_seconds"] < 0.9
