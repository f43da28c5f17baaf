"""Plugins: a hook that raises or returns the wrong type is reported and changes nothing,
unless strict mode is on; pluggy's ordering is kept around each isolated implementation."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from invoke_checkpoints import hookimpl
from invoke_checkpoints.plugins.host import PluginError, PluginHost
from invoke_checkpoints.run.context import RunInfo

from .conftest import Project, log_lines
from .plugin_support import (
    FIRST_RUN_FAILING,
    HOOKS,
    RESUMED,
    STRICT,
    error_lines,
    events,
    fail_then_resume,
    trail,
    write_tasks,
)


def test_environment_hook_returning_a_non_dict_is_reported(project: Project) -> None:
    """A hook returning the wrong type is reported like a raising one, and the run goes on."""
    write_tasks(project, plugins="Bad()")
    project.write(
        (project.root / "tasks.py")
        .read_text()
        .replace(
            "ns = Collection(",
            "class Bad:\n    @hookimpl\n    def checkpoints_environment(self):\n"
            "        return ['not', 'a', 'dict']\n\nns = Collection(",
        )
    )
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    message = "plugin 'tasks.Bad' failed in checkpoints_environment: returned list, expected dict"
    assert error_lines(outcome) == [f"invoke-checkpoints: {message} or None"]
    cp = project.checkpoint(project.only_run())
    assert "tasks.Bad" not in cp["environment"]
    assert cp["warnings"] == [f"{message} or None"]


# -- a hook that raises ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "hook",
    HOOKS,
)
def test_raising_hook_is_reported_and_changes_nothing(project: Project, hook: str) -> None:
    """Every hook: the error is one line naming the plugin and recorded in the run's warnings;
    other plugins still see every event; outcomes, markers and files are as without it."""
    write_tasks(project, plugins="Recorder(), Boom()")  # Boom is called first
    first, second = fail_then_resume(project, {"BOOM": hook})
    assert (first.code, second.code) == (3, 0), second.err
    assert trail(events(project)) == FIRST_RUN_FAILING + RESUMED
    assert log_lines(project) == ["lint-ran", "test-ran", "test-ran", "docs-ran"]
    run = project.only_run()
    assert project.markers(run) == [0, 1, 2]
    cp = project.checkpoint(run)
    assert cp["status"] == "completed"
    fired = sum(row["event"] == hook.removeprefix("checkpoints_") for row in events(project))
    message = f"plugin 'tasks.Boom' failed in {hook}: RuntimeError: boom in {hook}"
    assert error_lines(first) + error_lines(second) == [f"invoke-checkpoints: {message}"] * fired
    assert "second line" not in first.err + second.err
    assert cp["warnings"] == [message] * fired


def test_raising_hook_never_loses_the_steps_checkpoint(project: Project) -> None:
    """A raising step_complete hook fires after the marker: the step stays complete."""
    write_tasks(project, plugins="Boom()")
    outcome = project.invoke(
        "workflow", env={"BOOM": "checkpoints_step_complete", "BOOM_STEP": "docs"}
    )
    assert outcome.code == 0
    run = project.only_run()
    assert project.markers(run) == [0, 1, 2]
    assert project.state(run, 2)["status"] == "completed"
    resumed = project.invoke("workflow", "--resume")
    assert "already completed; nothing to resume" in resumed.out
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran"]


def test_strict_plugins_fails_the_run_at_a_consistent_point(project: Project) -> None:
    """strict: a raising step_complete hook stops the run after that step's checkpoint; the
    run resumes from the next step."""
    write_tasks(project, plugins="Recorder(), Boom()", config=STRICT)
    env = {"BOOM": "checkpoints_step_complete", "BOOM_STEP": "lint"}
    outcome = project.invoke("workflow", env=env)
    assert outcome.code == 1
    assert "checkpoints.strict_plugins is on, so the run stops" in outcome.err
    assert log_lines(project) == ["lint-ran"]
    run = project.only_run()
    cp = project.checkpoint(run)
    assert (cp["status"], cp["completed_steps"], cp["current_step"]) == ("failed", [0], 1)
    assert project.markers(run) == [0]
    assert cp["warnings"] == [
        "plugin 'tasks.Boom' failed in checkpoints_step_complete: RuntimeError: boom in "
        "checkpoints_step_complete"
    ]
    assert trail(events(project))[-2:] == ["step_complete:0", "workflow_finish"]
    assert events(project)[-1]["status"] == "failed"

    resumed = project.invoke("workflow", "--resume")  # BOOM unset: the plugin behaves now
    assert resumed.code == 0, resumed.err
    assert log_lines(project) == ["lint-ran", "test-ran", "docs-ran"]
    assert project.checkpoint(run)["status"] == "completed"


@pytest.mark.parametrize(
    ("hook", "ran"),
    [
        ("checkpoints_environment", []),
        ("checkpoints_workflow_start", []),
        ("checkpoints_step_start", ["lint-ran", "test-ran"]),  # the step had started
        ("checkpoints_should_skip_step", ["lint-ran"]),
    ],
    ids=["environment", "workflow_start", "step_start", "should_skip_step"],
)
def test_strict_plugins_stops_before_the_next_step(
    project: Project, hook: str, ran: list[str]
) -> None:
    """strict: the run fails at the first consistent point after the raising hook."""
    write_tasks(project, plugins="Boom()", config=STRICT)
    outcome = project.invoke("workflow", env={"BOOM": hook, "BOOM_STEP": "test"})
    assert outcome.code == 1, outcome.err
    assert log_lines(project) == ran
    cp = project.checkpoint(project.only_run())
    assert cp["status"] == "failed"
    assert cp["warnings"] == [f"plugin 'tasks.Boom' failed in {hook}: RuntimeError: boom in {hook}"]


def test_strict_plugins_raising_step_skipped_stops_the_resume(project: Project) -> None:
    """strict: step_skipped(already_complete) raising on resume fails before the next step."""
    write_tasks(project, plugins="Boom()", config=STRICT)
    assert project.invoke("workflow", env={"FAIL": "1"}).code == 3
    outcome = project.invoke("workflow", "--resume", env={"BOOM": "checkpoints_step_skipped"})
    assert outcome.code == 1
    assert log_lines(project) == ["lint-ran", "test-ran"]


def test_strict_plugins_stops_after_a_parallel_group(project: Project) -> None:
    """strict: a hook raising inside a parallel group fails the run before the next step."""
    write_tasks(project, plugins="Boom()", config=STRICT, steps="[lint, test], docs, parallel=True")
    outcome = project.invoke(
        "workflow", env={"BOOM": "checkpoints_step_complete", "BOOM_STEP": "lint"}
    )
    assert outcome.code == 1
    assert sorted(log_lines(project)) == ["lint-ran", "test-ran"]
    assert project.checkpoint(project.only_run())["status"] == "failed"


def test_strict_plugins_raising_workflow_finish_keeps_the_run_complete(project: Project) -> None:
    """strict: a raising finish hook cannot undo the run; the exit code reports it."""
    write_tasks(project, plugins="Boom()", config=STRICT)
    outcome = project.invoke("workflow", env={"BOOM": "checkpoints_workflow_finish"})
    assert outcome.code == 1
    assert "strict_plugins is on" in outcome.err
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "completed"
    assert project.markers(run) == [0, 1, 2]


# -- the adapter around each plugin, unit by unit ----------------------------------------------

RUN = RunInfo("wf_20260101_000000", "wf", None, ("lint",))


def host_of(*plugins: object) -> PluginHost:
    """A host with only ``plugins``, registered in that order (no built-ins, no entry points)."""
    return PluginHost(extra=plugins, disable=["environment", "reporter"], autoload=False)


def start_hook(
    seen: list[str],
    label: str,
    *,
    fail: BaseException | None = None,
    tryfirst: bool = False,
    trylast: bool = False,
) -> SimpleNamespace:
    """A plugin whose ``checkpoints_workflow_start`` records ``label``, then raises ``fail``."""

    def checkpoints_workflow_start(run: RunInfo) -> None:
        seen.append(label)
        if fail is not None:
            raise fail

    marked = hookimpl(tryfirst=tryfirst, trylast=trylast)(checkpoints_workflow_start)
    return SimpleNamespace(checkpoints_workflow_start=marked)


@pytest.mark.parametrize(
    "fail", [OSError("disk full"), SystemExit(3)], ids=["exception", "system-exit"]
)
def test_a_failing_plugin_does_not_stop_a_later_one_on_the_same_hook(
    capsys: pytest.CaptureFixture[str], fail: BaseException
) -> None:
    """The implementation called first raises: the next one is called all the same, and the
    failure is one stderr line naming the plugin and the hook, kept in ``errors``."""
    seen: list[str] = []
    host = host_of(start_hook(seen, "later"), start_hook(seen, "failing", fail=fail))
    host.notify("checkpoints_workflow_start", run=RUN)
    assert seen == ["failing", "later"]
    message = (
        "plugin 'types.SimpleNamespace#2' failed in checkpoints_workflow_start: "
        f"{type(fail).__name__}: {fail}"
    )
    assert host.errors == [message]
    assert capsys.readouterr().err == f"invoke-checkpoints: {message}\n"
    assert host.strict_failure is None


def test_a_strict_host_keeps_the_first_failure_until_taken() -> None:
    """strict: the first failure waits for the engine; taking it clears it."""
    seen: list[str] = []
    boom = start_hook(seen, "boom", fail=RuntimeError("boom"))
    host = PluginHost(
        extra=[boom], disable=["environment", "reporter"], autoload=False, strict=True
    )
    heard: list[str] = []
    host.report_errors_to(heard.append)
    host.notify("checkpoints_workflow_start", run=RUN)
    host.notify("checkpoints_workflow_start", run=RUN)
    first = (
        "plugin 'types.SimpleNamespace' failed in checkpoints_workflow_start: RuntimeError: boom"
    )
    assert heard == host.errors == [first, first]
    assert host.take_strict_failure() == first
    assert (host.strict_failure, host.take_strict_failure()) == (None, None)


def test_isolated_plugins_keep_pluggys_call_order() -> None:
    """tryfirst, then the last registered first, then trylast: as pluggy orders the plugins
    themselves, with a raising one in the middle changing nothing."""
    seen: list[str] = []
    host = host_of(
        start_hook(seen, "first", tryfirst=True),
        start_hook(seen, "last", trylast=True),
        start_hook(seen, "a"),
        start_hook(seen, "b", fail=RuntimeError("b")),
        start_hook(seen, "c"),
        start_hook(seen, "also-first", tryfirst=True),
    )
    host.notify("checkpoints_workflow_start", run=RUN)
    assert seen == ["also-first", "first", "c", "b", "a", "last"]
    assert len(host.errors) == 1


class Reason:
    """Answers ``checkpoints_should_skip_step`` with a fixed value."""

    def __init__(self, seen: list[str], answer: object) -> None:
        self.seen, self.answer = seen, answer

    @hookimpl
    def checkpoints_should_skip_step(self, step: object) -> object:
        self.seen.append(repr(self.answer))
        return self.answer


def test_should_skip_step_empty_or_invalid_answers_let_the_next_plugin_decide() -> None:
    """firstresult through pluggy: ``""`` and a reported wrong type are no answer; the first
    non-empty string wins and the plugins after it are not asked."""
    seen: list[str] = []
    host = host_of(
        Reason(seen, "never asked"), Reason(seen, "decided"), Reason(seen, 3), Reason(seen, "")
    )
    assert host.first("checkpoints_should_skip_step", run=RUN, step="lint") == "decided"
    assert seen == ["''", "3", "'decided'"]
    assert host.errors == [
        "plugin 'tests.test_plugins_isolation.Reason#3' failed in checkpoints_should_skip_step: "
        "returned int, expected str or None"
    ]
    nobody = host_of(Reason(seen, ""), Reason(seen, None))
    assert nobody.first("checkpoints_should_skip_step", run=RUN, step="lint") is None


class Env:
    """Answers ``checkpoints_environment``; the built-in's contribution is not needed here."""

    def __init__(self, answer: object) -> None:
        self.answer = answer

    @hookimpl
    def checkpoints_environment(self) -> object:
        return self.answer


def test_each_pairs_every_answer_with_its_plugin() -> None:
    """``each``: the plugins' names with their results, wrong types and ``None`` left out."""
    host = host_of(Env({"a": 1}), Env(None), Env(["wrong"]), Env({}))
    assert host.each("checkpoints_environment", run=RUN) == [
        ("tests.test_plugins_isolation.Env#4", {}),
        ("tests.test_plugins_isolation.Env", {"a": 1}),
    ]
    assert len(host.errors) == 1


class Static:
    """A class given as a plugin, not an instance: its static and class methods are hooks."""

    seen: ClassVar[list[str]] = []

    @hookimpl
    @staticmethod
    def checkpoints_workflow_start(run: RunInfo) -> None:
        Static.seen.append(f"static {run.name}")

    @hookimpl(specname="checkpoints_workflow_finish")
    @classmethod
    def finished(cls, status: str) -> None:
        cls.seen.append(f"{cls.__name__} {status}")


def test_a_class_with_static_and_class_method_hooks_is_a_plugin() -> None:
    """The adapter keeps how pluggy binds a class's hooks, and ``specname``."""
    host = host_of(Static)
    host.notify("checkpoints_workflow_start", run=RUN)
    host.notify("checkpoints_workflow_finish", run=RUN, status="completed")
    assert Static.seen == ["static wf", "Static completed"]
    assert host.errors == []
    assert host.get_plugin("tests.test_plugins_isolation.Static") is Static


@pytest.mark.parametrize(
    "marker", [hookimpl(wrapper=True), hookimpl(hookwrapper=True)], ids=["wrapper", "hookwrapper"]
)
def test_hook_wrappers_are_refused_on_notification_hooks(marker: Callable[[Any], Any]) -> None:
    """Both kinds of wrapper, except on checkpoints_run_step, with the end-to-end message."""

    def checkpoints_step_start() -> Any:
        yield

    marked = marker(checkpoints_step_start)
    with pytest.raises(PluginError) as refused:
        host_of(SimpleNamespace(checkpoints_step_start=marked))
    assert str(refused.value) == (
        "plugin 'types.SimpleNamespace' is invalid: hook wrappers are supported only for "
        "checkpoints_run_step (checkpoints_step_start); use a plain @hookimpl"
    )
