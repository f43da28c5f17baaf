"""Findings of a hostile review, each fixed: what a step saves always stays readable, secrets
stay out of the environment's fallback form, ``--output`` never replaces a link or a device."""

from __future__ import annotations

import json
import os

from invoke_checkpoints.run.outcomes import MAX_SAVED

from .conftest import Project

BIG_OUTPUTS = f"""
from invoke import Collection, task
from invoke_checkpoints import current_step, workflow


@task
def big(c):
    current_step().outputs["blob"] = "a" * {MAX_SAVED + 10}
    current_step().outputs["small"] = 1


@task
def bigvar(c):
    current_step().run.vars["blob"] = "b" * {MAX_SAVED + 10}


ns = Collection(big, bigvar)
ns.add_collection(workflow(big, bigvar))
"""


def test_outputs_and_vars_too_big_to_keep_are_replaced_by_a_note(project: Project) -> None:
    """A step that saves more than a checkpoint keeps still succeeds; the value becomes a note
    with a warning, and the run stays readable (before: status and resume refused it)."""
    project.write(BIG_OUTPUTS)
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    state = project.state(run, 0)
    assert state["status"] == "completed"
    assert state["outputs"]["small"] == 1
    assert state["outputs"]["blob"].startswith("<not saved:")
    assert any("outputs['blob']" in w for w in state["warnings"])
    cp = project.checkpoint(run)
    assert cp["vars"]["blob"].startswith("<not saved:")
    status = project.invoke("workflow.status", "--json")
    assert status.code == 0, status.err
    assert json.loads(status.out)["status"] == "completed"


SECRET_ENV = """
from invoke import Collection, task
from invoke_checkpoints import hookimpl, workflow


class Leaky:
    @hookimpl
    def checkpoints_environment(self, run):
        return {"token": "s3cr3t", "v": float("nan")}


@task
def a(c):
    pass


ns = Collection(a)
ns.add_collection(workflow(a, plugins=[Leaky()]))
"""


def test_secret_in_a_non_json_environment_is_redacted(project: Project) -> None:
    """A plugin's environment with a secret and a value that is not JSON: the secret is
    redacted before the fallback repr, and the debug trace shows keys only."""
    project.write(SECRET_ENV)
    outcome = project.invoke("workflow", env={"INVOKE_CHECKPOINTS_DEBUG": "1"})
    assert outcome.code == 0, outcome.err
    text = (project.only_run() / "checkpoint.json").read_text()
    assert "s3cr3t" not in text
    assert "s3cr3t" not in outcome.err


def test_report_output_never_replaces_a_link(project: Project) -> None:
    """``--output`` naming a symbolic link is refused in one line; the link and its target stay."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    target = project.root / "real.html"
    target.write_text("mine")
    link = project.root / "link.html"
    link.symlink_to(target)
    outcome = project.invoke("workflow.report", "--output=link.html")
    assert outcome.code == 2
    assert "symbolic link" in outcome.err
    assert link.is_symlink()
    assert target.read_text() == "mine"


def test_report_last_that_is_not_a_number_is_one_line(project: Project) -> None:
    """``--last=abc``: one line, exit 2 (before: a ValueError traceback from Invoke)."""
    project.use("three_steps")
    outcome = project.invoke("workflow.report", "--last=abc")
    assert outcome.code == 2
    assert "--last must be a whole number" in outcome.err
    assert "Traceback" not in outcome.err


TYPO_IN_STEP = """
from invoke import Collection, task
from invoke_checkpoints import current_step, workflow


@task
def a(c):
    pass


@task
def b(c):
    current_step().run.outputs_of("typo")


ns = Collection(a, b)
ns.add_collection(workflow(a, b))
"""


def test_a_checkpoint_error_in_a_step_is_recorded_with_the_exit_code_invoke_gives(
    project: Project,
) -> None:
    """``outputs_of("typo")`` inside a step: recorded as exit 2, and invoke exits 2."""
    project.write(TYPO_IN_STEP)
    outcome = project.invoke("workflow")
    assert outcome.code == 2
    assert project.state(project.only_run(), 1)["exit_code"] == 2


def test_a_directory_named_like_a_marker_refuses_the_run(project: Project) -> None:
    """A directory at ``step_01.complete``: status and resume refuse the run in one line
    (before: status said all was well and every resume re-ran the step, then failed)."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    (run / "step_01.complete").unlink()
    os.mkdir(run / "step_01.complete")
    status = project.invoke("workflow.status")
    assert status.code == 2
    assert "step_01.complete" in status.err
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 2
