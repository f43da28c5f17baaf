"""Findings of the third hostile review (held run directories, resume from the validated
states, indexed sources), each fixed."""

from __future__ import annotations

import ast
import os
from typing import TYPE_CHECKING

import pytest

from invoke_checkpoints.store.safefs import Walker

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Project


def test_a_held_directory_swapped_mid_write_never_sends_the_write_outside(tmp_path: Path) -> None:
    """While one thread writes through a held run directory, another's access finds it swapped
    for a link and is refused. The writer's descriptor must stay the directory it was: before,
    the refusal closed it, the next open anywhere in the process (here: a directory outside the
    store) took its number, and the write landed there."""
    root, outside = tmp_path / "store", tmp_path / "outside"
    root.mkdir(mode=0o700)
    (root / "run").mkdir(mode=0o700)
    outside.mkdir(mode=0o700)
    walker = Walker(root, readonly=False)
    with walker.hold(["run"]), walker.directory(["run"]) as fd:  # a write under way in run/
        os.rename(root / "run", root / "run.old")
        os.symlink(root / "run.old", root / "run")
        with pytest.raises(OSError), walker.directory(["run"]):  # another thread's access
            pass
        other = os.open(outside, os.O_RDONLY | os.O_DIRECTORY)  # any thread opens a directory
        try:
            os.close(os.open("step_01_state.json", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=fd))
        finally:
            os.close(other)
    assert os.listdir(outside) == []
    assert os.listdir(root / "run.old") == ["step_01_state.json"]


@pytest.mark.parametrize("value", ["[1, 2]", "None", "0", "'text'"])
@pytest.mark.parametrize("returns", [False, True])
def test_outputs_assigned_something_else_than_a_dict_is_kept_with_a_warning(
    project: Project, value: str, returns: bool
) -> None:
    """``current_step().outputs = [1, 2]`` (the field is a dict): the step still succeeds, the
    value is saved under ``outputs`` with a warning saying what happened, and a returned value
    still lands in ``result``; it used to end the run with a traceback (a list, a string) or
    be dropped without a word (``None``, ``0``)."""
    project.write(
        f"""
        from invoke import Collection, task
        from invoke_checkpoints import current_step, workflow

        @task
        def make(c):
            current_step().outputs = {value}
            return {{"n": 3}} if {returns} else None

        ns = Collection()
        ns.add_collection(workflow(make))
        """
    )
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome
    assert "Traceback" not in outcome.err
    state = project.state(project.only_run(), 0)
    assert state["outputs"]["outputs"] == ast.literal_eval(value)
    assert ("result" in state["outputs"]) == returns
    assert any("outputs is a" in w and "not a dict" in w for w in state["warnings"]), state
