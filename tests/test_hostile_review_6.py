"""Findings of the sixth hostile review (the plugin host's built-ins-only path without pluggy).

The fast path itself matched pluggy's path in every scenario tried (plugins from every source,
blocked and duplicate names, ``--parallel``, ``--dry-run``, ``--resume``, debug tracing, entry
points of an installed distribution); what is tested here is what a user hits on both paths.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

from .conftest import one_line

if TYPE_CHECKING:
    from .conftest import Project

TASKS = """
from invoke import Collection, task
from invoke_checkpoints import workflow

@task
def build(c):
    print("built")

ns = Collection(build)
ns.add_collection(workflow(build))
"""

#: A plugin module a user could well call ``reporter`` (the name of a built-in plugin).
USER_REPORTER = """
from invoke_checkpoints import hookimpl

@hookimpl
def checkpoints_step_start(step):
    print("user reporter saw", step.name)
"""


def _configure(project: Project, **checkpoints: object) -> None:
    project.write(json.dumps({"checkpoints": checkpoints}), "invoke.json")


def test_plugins_listing_with_every_plugin_disabled_is_not_a_traceback(project: Project) -> None:
    """``disable_plugins: [environment, reporter, smart]`` is allowed (the run works); its
    ``workflow.plugins`` listing crashed on ``max()`` of no active plugin."""
    project.write(TASKS)
    _configure(project, disable_plugins=["environment", "reporter", "smart"])
    listed = project.run("workflow.plugins")
    assert listed.code == 0, listed.err
    assert "Traceback" not in listed.err
    assert listed.out.split() == [
        *("environment", "(disabled", "by", "checkpoints.disable_plugins)"),
        *("reporter", "(disabled", "by", "checkpoints.disable_plugins)"),
        *("smart", "(disabled", "by", "checkpoints.disable_plugins)"),
    ]
    assert project.run("workflow").code == 0


def test_a_configured_plugin_named_like_a_built_in_is_not_silently_ignored(
    project: Project,
) -> None:
    """``checkpoints.plugins: [reporter]`` naming the user's own reporter.py was skipped without
    a word (never imported, never listed): the run went on without the user's plugin."""
    project.write(TASKS)
    project.write(USER_REPORTER, "reporter.py")
    _configure(project, plugins=["reporter"])
    ran = project.run("workflow")
    assert ran.code != 0, ran.out
    line = one_line(ran)
    assert "reporter" in line and "built-in" in line, line
    assert not project.runs()


def test_a_workflow_plugin_named_like_a_built_in_gets_a_readable_error(project: Project) -> None:
    """``workflow(plugins=[reporter])`` (a module named like the built-in): the one-line error
    was pluggy's dict of registered adapters, without saying what was wrong."""
    project.write(TASKS.replace("workflow(build)", "workflow(build, plugins=[reporter])"))
    project.edit(
        "from invoke_checkpoints import workflow",
        "import reporter\nfrom invoke_checkpoints import workflow",
    )
    project.write(USER_REPORTER, "reporter.py")
    ran = project.run("workflow")
    assert ran.code != 0
    line = one_line(ran)
    assert "<isolated plugin" not in line and "{" not in line, line
    assert "reporter" in line and "built-in" in line, line
    assert not project.runs()


def test_a_mistaken_hookimpl_option_names_the_public_marker() -> None:
    """``@hookimpl(firstresult=True)`` (a hookspec option): the TypeError named the private
    ``_ImplMarker`` class where pluggy's marker said ``HookimplMarker``."""
    code = textwrap.dedent(
        """
        from invoke_checkpoints import hookimpl, hookspec
        for marker, option in ((hookimpl, "firstresult"), (hookspec, "tryfirst")):
            try:
                marker(**{option: True})
            except TypeError as exc:
                print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "HookimplMarker.__call__() got an unexpected keyword argument 'firstresult'",
        "HookspecMarker.__call__() got an unexpected keyword argument 'tryfirst'",
    ]


def test_a_configured_plugin_naming_a_built_in_itself_is_accepted(project: Project) -> None:
    """``checkpoints.plugins: [smart]`` with no module of that name names the built-in that is
    registered anyway: the run goes on as before, with the built-in listed once."""
    project.write(TASKS)
    _configure(project, plugins=["smart"])
    ran = project.run("workflow")
    assert ran.code == 0, ran.err
    listed = project.run("workflow.plugins")
    assert [line.split()[0] for line in listed.out.splitlines()].count("smart") == 1
