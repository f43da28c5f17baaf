"""A run with only the built-in plugins does not import pluggy, and is served exactly as pluggy
would serve it: same marks, same order, same answers, same console output and files."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import textwrap
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest

from invoke_checkpoints import hookimpl, hookspec
from invoke_checkpoints.plugins.host import PluginError, PluginHost

from .conftest import Project

RUN = SimpleNamespace(workflow_id="wf", name="wf", status="running")


# -- the markers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        dict(
            zip(
                ("wrapper", "hookwrapper", "optionalhook", "tryfirst", "trylast"),
                flags,
                strict=True,
            )
        )
        for flags in itertools.product((False, True), repeat=5)
    ]
    + [{}, {"specname": "checkpoints_step_start"}],
)
def test_hookimpl_marks_a_function_exactly_as_pluggys_marker(options: dict[str, Any]) -> None:
    """The same attribute, holding an equal dict, with or without options."""

    def ours() -> None: ...

    def theirs() -> None: ...

    hookimpl(**options)(ours)
    pluggy.HookimplMarker("invoke_checkpoints")(**options)(theirs)
    assert vars(ours) == vars(theirs) and vars(ours)
    bare_ours, bare_theirs = (
        hookimpl(lambda: None),
        pluggy.HookimplMarker("invoke_checkpoints")(lambda: None),
    )
    assert vars(bare_ours) == vars(bare_theirs)
    assert hookimpl.project_name == "invoke_checkpoints"


def test_hookspec_marks_a_function_exactly_as_pluggys_marker() -> None:
    """Including pluggy's refusal of a historic firstresult hook."""
    spec_options: list[dict[str, Any]] = [{}, {"firstresult": True}, {"historic": True}]
    for options in spec_options:

        def ours() -> None: ...

        def theirs() -> None: ...

        hookspec(**options)(ours)
        pluggy.HookspecMarker("invoke_checkpoints")(**options)(theirs)
        assert vars(ours) == vars(theirs)
    with pytest.raises(ValueError, match="historic firstresult"):
        hookspec(firstresult=True, historic=True)(lambda: None)


# -- pluggy is not imported ------------------------------------------------------------------

TASKS = """
import os, sys
from invoke import Collection, task
from invoke_checkpoints import hookimpl, workflow

@task
def probe(c):
    print("pluggy loaded:", "pluggy" in sys.modules)

@task
def flaky(c):
    if not os.path.exists("ok"):
        raise SystemExit("flaky fails until ./ok exists")
    print("flaky ok")

@task
def last(c):
    print("last, pluggy loaded:", "pluggy" in sys.modules)

class Harmless:
    '''A third-party plugin that changes nothing.'''

    @hookimpl
    def checkpoints_step_start(self, step):
        pass

PLUGINS = [Harmless()] if os.environ.get("WITH_PLUGIN") else []
ns = Collection(probe, flaky, last)
ns.add_collection(workflow(probe, flaky, last, plugins=PLUGINS))
"""


def test_a_run_with_only_built_ins_does_not_import_pluggy(project: Project) -> None:
    """A real ``invoke workflow`` and its resume: pluggy stays out until a plugin needs it."""
    project.write(TASKS)
    first = project.run("workflow")
    assert first.code == 1, first.err
    assert "pluggy loaded: False" in first.out
    (project.root / "ok").write_text("")
    resumed = project.run("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert "last, pluggy loaded: False" in resumed.out
    fresh = project.run("workflow")
    assert fresh.code == 0 and "pluggy loaded: False" in fresh.out
    with_plugin = project.run("workflow", env={"WITH_PLUGIN": "1"})
    assert with_plugin.code == 0 and "pluggy loaded: True" in with_plugin.out
    debug = project.run("workflow", env={"INVOKE_CHECKPOINTS_DEBUG": "1"})
    assert debug.code == 0 and "pluggy loaded: True" in debug.out


def _masked(text: str) -> str:
    """Output without what differs between two runs: ids, times, durations (the time steps
    ran is shown only when the idle time between a failure and its resume is long enough)."""
    text = re.sub(r" \([^()]* running steps\)", "", text)
    text = re.sub(r"workflow_\S+", "workflow_<id>", text)
    return re.sub(r"\d+(\.\d+)?", "N", text)


def _files(project: Project) -> dict[str, Any]:
    """Every file the runs left, by kind, with the statuses and skip reasons they record."""
    found: dict[str, Any] = {}
    for n, run in enumerate(project.runs()):
        for path in sorted(run.rglob("*")):
            if path.is_file():
                found[f"{n}/{path.relative_to(run)}"] = None
        checkpoint = project.checkpoint(run)
        found[f"{n}/status"] = checkpoint["status"]
        found[f"{n}/environment"] = sorted(checkpoint.get("environment", {}))
        for step in project.markers(run):
            state = project.state(run, step)
            found[f"{n}/{step}"] = (state["status"], state.get("skip_reason"))
    return found


def _scenario(project: Project, env: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """Fail, resume, run again (all steps complete): outputs and files."""
    project.write(TASKS)
    (project.root / "ok").unlink(missing_ok=True)
    outputs = []
    for argv in (["workflow"], ["workflow", "--resume"], ["workflow.status"]):
        if argv[-1] == "--resume":
            (project.root / "ok").write_text("")
        outcome = project.run(*argv, env=env)
        outputs.append(f"{outcome.code}\n{_masked(outcome.out)}\n{_masked(outcome.err)}")
    return [o.replace("True", "X").replace("False", "X") for o in outputs], _files(project)


def test_built_ins_behave_the_same_with_and_without_pluggy(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same workflow with and without a harmless third-party plugin (which brings pluggy
    in): the same console output, exit codes and files."""
    results = []
    for env in ({}, {"WITH_PLUGIN": "1"}):
        root = tmp_path / ("with" if env else "without")
        root.mkdir()
        results.append(_scenario(Project(root, monkeypatch), env))
    (outputs, files), (outputs_pluggy, files_pluggy) = results
    assert outputs == outputs_pluggy
    assert files == files_pluggy
    assert outputs[0].startswith("1\n") and outputs[1].startswith("0\n")


def test_a_host_with_only_built_ins_leaves_pluggy_unloaded() -> None:
    """Built in the CLI's way, with a blocked built-in: no pluggy, and the right plugins."""
    code = textwrap.dedent(
        """
        import sys
        from invoke_checkpoints.plugins.host import PluginHost
        from invoke_checkpoints.plugins.reporter import ConsoleReporter
        host = PluginHost(builtins=[("reporter", ConsoleReporter())], disable=["smart"],
                          autoload=False)
        print(list(host.origins), host.blocked(), host.unknown_blocked(), "pluggy" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == "['environment', 'reporter'] ['smart'] ['smart'] False"


# -- the same order and answers as pluggy's --------------------------------------------------


class Builtin:
    """A built-in with ordering options, recording its calls."""

    def __init__(self, seen: list[str], label: str, answer: object = None) -> None:
        self.seen, self.label, self.answer = seen, label, answer

    @hookimpl
    def checkpoints_workflow_start(self, run: object) -> None:
        self.seen.append(f"start:{self.label}")

    @hookimpl
    def checkpoints_should_skip_step(self, step: object) -> object:
        self.seen.append(f"skip:{self.label}")
        return self.answer

    @hookimpl
    def checkpoints_environment(self) -> object:
        return self.answer if isinstance(self.answer, dict) else {self.label: 1}


class TryFirst(Builtin):
    @hookimpl(tryfirst=True)
    def checkpoints_workflow_start(self, run: object) -> None:
        self.seen.append(f"start:{self.label}")

    @hookimpl(tryfirst=True)
    def checkpoints_should_skip_step(self, step: object) -> object:
        self.seen.append(f"skip:{self.label}")
        return self.answer


class TryLast(Builtin):
    @hookimpl(trylast=True)
    def checkpoints_workflow_start(self, run: object) -> None:
        self.seen.append(f"start:{self.label}")

    @hookimpl(trylast=True, specname="checkpoints_should_skip_step")
    def skip(self, run: object, step: object) -> object:
        self.seen.append(f"skip:{self.label}")
        return self.answer


class Nothing:
    """A third-party plugin without hooks: registering it makes the host use pluggy."""


def _calls(*, pluggy_path: bool, debug: bool = False) -> tuple[list[str], object, list[Any]]:
    seen: list[str] = []
    builtins = [
        ("first", TryFirst(seen, "first")),
        ("last", TryLast(seen, "last", "from last")),
        ("a", Builtin(seen, "a", "")),
        ("boom", Builtin(seen, "boom", 3)),
        ("b", Builtin(seen, "b")),
        ("first2", TryFirst(seen, "first2")),
    ]
    host = PluginHost(
        builtins=builtins,
        disable=["environment"],
        extra=[Nothing()] if pluggy_path else [],
        autoload=False,
        debug=debug,
    )
    host.notify("checkpoints_workflow_start", run=RUN)
    answer = host.first("checkpoints_should_skip_step", run=RUN, step="s")
    each = host.each("checkpoints_environment", run=RUN)
    return [*seen, *host.errors], answer, each


def test_built_ins_are_called_in_pluggys_order_with_pluggys_answers() -> None:
    """tryfirst, then the last registered first, then trylast; firstresult skipping ``""``
    and a reported wrong type: the same without pluggy as through it (and with --debug)."""
    direct = _calls(pluggy_path=False)
    assert direct == _calls(pluggy_path=True)
    assert direct == _calls(pluggy_path=False, debug=True)
    seen, answer, each = direct
    assert seen[:6] == [f"start:{x}" for x in ("first2", "first", "b", "boom", "a", "last")]
    assert answer == "from last"
    assert [name for name, _ in each] == ["first2", "b", "boom", "a", "last", "first"]


class Unusual:
    """A built-in the direct registry does not serve: pluggy decides, as before."""

    @hookimpl
    def checkpoints_not_a_hook(self) -> None: ...


def test_a_built_in_pluggy_refuses_is_refused_in_pluggys_words() -> None:
    with pytest.raises(PluginError, match="plugin 'odd' is invalid: unknown hook"):
        PluginHost(builtins=[("odd", Unusual())], autoload=False)
