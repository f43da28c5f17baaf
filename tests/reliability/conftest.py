"""Helpers of the reliability suites: scratch projects for hypothesis, store snapshots, cases.

Hypothesis runs many examples in one test function, so these suites do not use the
function-scoped ``project`` fixture for their examples: ``scratch()`` makes a fresh project
directory (and its own ``MonkeyPatch``) per example.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..conftest import Outcome, Project
from ..conftest import one_line as _one_line

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Examples per hypothesis test: modest in CI; ``harness.py --fuzz-examples`` raises it.
EXAMPLES = int(os.environ.get("RELIABILITY_FUZZ_EXAMPLES", "0")) or None


def examples(default: int, *, share: float = 1.0) -> int:
    """``RELIABILITY_FUZZ_EXAMPLES`` (times ``share``, for slower tests) when set, else
    ``default``."""
    return max(default, int(EXAMPLES * share)) if EXAMPLES else default


def clean_env(mp: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("INVOKE_"):
            mp.delenv(key)
    mp.setenv("INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD", "1")


@contextlib.contextmanager
def scratch(template: Path | None = None) -> Iterator[Project]:
    """A fresh project (a copy of ``template`` when given) with its own MonkeyPatch."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        clean_env(mp)
        root = Path(tmp) / "proj"
        if template is None:
            root.mkdir()
        else:
            shutil.copytree(template, root, symlinks=True)
        project = Project(root, mp)
        try:
            yield project
        finally:
            project.reap()


def one_line(outcome: Outcome) -> str:
    """The single stderr line of a refused command (no traceback, nothing else), which
    starts with ``invoke-checkpoints: ``."""
    text = _one_line(outcome)
    assert text.startswith("invoke-checkpoints: "), text
    return text


def record_case(suite: str, outcome: str) -> None:
    """Count one executed case for ``docs/reliability.md`` (``harness.py --fuzz-examples``)."""
    path = os.environ.get("RELIABILITY_FUZZ_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"suite": suite, "outcome": outcome}) + "\n")


def fail_once(project: Project) -> Path:
    """Run the fixture project ``fast_steps`` in ``project`` so that it fails at step 1
    (test): marker 0, states 0 and 1; the run's directory."""
    project.use("fast_steps")
    (project.root / "fail").touch()
    outcome = project.invoke("workflow")
    assert outcome.code == 3, outcome.err
    (project.root / "fail").unlink()
    return project.only_run()


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose one run of ``fast_steps`` failed at step 1: marker 0, states 0 and 1.

    A template: copy it with ``scratch(template)``; never change it.
    """
    root = tmp_path_factory.mktemp("template") / "proj"
    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp)
        root.mkdir(parents=True)
        fail_once(Project(root, mp))
        (root / "log.txt").unlink()
    return root
