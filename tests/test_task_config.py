"""Each call gets the config ``invoke <task>`` would give it, even though the reload is skipped
when nothing it depends on changed (run/taskconfig.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.conftest import Project

ENV_AND_COLLECTIONS = """
import os

from invoke import Collection, task

from invoke_checkpoints import workflow


@task
def export(c):
    os.environ["INVOKE_DEMO_WHERE"] = "from-env"


@task(pre=[export])
def first(c):
    print("first:", c.config.demo.where)


@task
def second(c):
    print("second:", c.config.demo.where)


@task
def third(c):
    c.config.demo.extra = "set-by-third"
    print("third:", c.config.demo.where, c.config.get("subonly"))


@task
def fourth(c):
    print("fourth:", c.config.demo.where, c.config.demo.get("extra"), c.config.get("subonly"))


other = Collection("other", third)
# The root collection's values win over a sub-collection's (Invoke's rule); "subonly" is only here.
other.configure({"demo": {"where": "other-collection"}, "subonly": "other-only"})
ns = Collection(export, first, second, fourth, other)
ns.configure({"demo": {"where": "root-collection"}})
ns.add_collection(workflow(first, second, other["third"], fourth))
"""


def test_env_set_by_a_pre_task_and_each_collection_s_config_reach_their_calls(
    project: Project,
) -> None:
    project.write(ENV_AND_COLLECTIONS)
    out = project.invoke("workflow")
    assert out.code == 0, out.err
    # The pre task's environment reaches the main call (Invoke reloads the env before each
    # call); the step's environment is restored after it, so the second step sees the
    # collection's value again.
    assert "first: from-env" in out.out
    assert "second: root-collection" in out.out
    # A step from a sub-collection gets that collection's config, then the root's again;
    # a task's own change to the config stays for later calls, as in `invoke third fourth`.
    assert "third: root-collection other-only" in out.out
    assert "fourth: root-collection set-by-third None" in out.out


def test_the_same_tasks_under_plain_invoke_print_the_same(project: Project) -> None:
    """The reference: what plain Invoke prints for the same calls."""
    project.write(ENV_AND_COLLECTIONS)
    out = project.invoke("first", "second", "other.third", "fourth")
    assert out.code == 0, out.err
    assert "first: from-env" in out.out
    # Plain Invoke does not restore the environment between tasks: the value stays.
    assert "second: from-env" in out.out
    assert "third: from-env other-only" in out.out
    assert "fourth: from-env set-by-third None" in out.out


LOADS_ITSELF = """
import os

from invoke import Collection, task

from invoke_checkpoints import workflow


@task
def a(c):
    os.environ["INVOKE_RUN_ECHO"] = "1"
    c.config.load_shell_env()
    c.config.load_collection({"foo": "loaded-by-a"})


@task
def b(c):
    print("b:", c.config.run.echo, c.config.get("foo"))


ns = Collection(a, b)
ns.configure({"foo": "root-foo"})
ns.add_collection(workflow(a, b))
"""


def test_a_task_that_loads_config_layers_itself_does_not_leak_them(project: Project) -> None:
    """Step a loads the collection and env layers itself; before step b they are reloaded
    from b's collection and from the environment (restored after a), as Invoke's Executor
    reloads them before each task."""
    project.write(LOADS_ITSELF)
    out = project.invoke("workflow")
    assert out.code == 0, out.err
    assert "b: False root-foo" in out.out
