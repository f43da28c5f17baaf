"""The crash matrix, short form: a real 20-step workflow SIGKILLed ~50 times and resumed.

The harness (``tests/reliability/harness.py``) does the work; ``RELIABILITY_KILLS`` sets the
number of kills (default 50) and ``RELIABILITY_SEED`` replays a failing seed. The long form
is ``python tests/reliability/harness.py --kills=1000 --report docs/reliability.md``.
The other tests here prove that the harness's checks can fail.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import Project
from . import harness
from .conftest import clean_env

KILLS = int(os.environ.get("RELIABILITY_KILLS", "50"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_crash_matrix(tmp_path: Path) -> None:
    """Every kill leaves a store that parses; resumes never re-run a committed step."""
    seed = int(os.environ.get("RELIABILITY_SEED") or random.randrange(2**32))
    figures_path, report = tmp_path / "figures.json", tmp_path / "reliability.md"
    argv = [f"--kills={KILLS}", f"--seed={seed}", "--workdir", str(tmp_path / "work")]
    argv += ["--json", str(figures_path), "--report", str(report), "--fuzz-examples=0"]

    code = harness.main(argv)

    figures = json.loads(figures_path.read_text())
    assert code == 0, f"seed {seed}: " + "\n".join(figures["violations"])
    assert figures["violations"] == []
    assert figures["kills"] >= KILLS
    kinds = figures["kills_by"]
    assert kinds.get("timed", 0) > 0, kinds
    assert sum(n for kind, n in kinds.items() if kind.startswith("fault:")) > 0, kinds
    assert figures["rounds"] >= 1
    assert figures["reruns"] > 0  # kills landed inside steps, and the step in flight re-ran
    assert figures["max_reruns_per_kill"] == 1
    assert figures["files_checked"] > 20 * figures["invocations"]
    text = report.read_text()
    assert f"python tests/reliability/harness.py --kills={KILLS}" in text
    assert f"| kills (SIGKILL) | {figures['kills']} |" in text


# -- the checks themselves can fail ------------------------------------------------------


@pytest.fixture(scope="module")
def completed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed run of the harness's 20-step workflow, made once (in-process)."""
    root = tmp_path_factory.mktemp("completed") / "proj"
    root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        clean_env(mp)
        template = Project(root, mp)
        template.use("twenty_steps")
        outcome = template.invoke("workflow")
    assert outcome.code == 0, outcome.err
    return template.store


@pytest.fixture
def finished(project: Project, completed_store: Path) -> Path:
    """A copy of that run in this test's project."""
    shutil.copytree(completed_store, project.store, symlinks=True)
    return project.only_run()


def _problems(project: Project) -> list[str]:
    figures = harness.Figures(seed=0, target=0)
    _, problems = harness.check_store(project.store, figures)
    return problems


def test_checker_accepts_a_completed_run(project: Project, finished: Path) -> None:
    figures = harness.Figures(seed=0, target=0)
    view, problems = harness.check_store(project.store, figures)
    assert problems == []
    assert view is not None and view.markers == set(range(20))
    # .gitignore, README.md, the lock, its owner record, the runs guard, the latest pointer.
    assert figures.files_checked == 6 + 1 + 20 + 20


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        pytest.param(
            lambda run: (run / "checkpoint.json").write_bytes(
                (run / "checkpoint.json").read_bytes()[:100]
            ),
            "checkpoint.json: does not parse",
            id="torn-checkpoint",
        ),
        pytest.param(
            lambda run: (run / "step_07.complete").write_bytes(b"STEP=7\n"),
            "step_07.complete: does not parse",
            id="torn-marker",
        ),
        pytest.param(
            lambda run: (run / "state" / "step_03_state.json").write_bytes(b"\x00"),
            "step_03_state.json: does not parse",
            id="nul-state",
        ),
        pytest.param(
            lambda run: (run / "step_04.complete").unlink(), "not a prefix", id="marker-hole"
        ),
        pytest.param(
            lambda run: (run / "state" / "step_05_state.json").unlink(),
            "has a marker but its state",
            id="marker-without-state",
        ),
        pytest.param(
            lambda run: (run / "stray.txt").write_text("x"), "unexpected file", id="stray-file"
        ),
        pytest.param(
            lambda run: (run / "checkpoint.json").chmod(0o644), "expected 600", id="file-mode"
        ),
    ],
)
def test_checker_reports_damage(
    project: Project, finished: Path, damage: Callable[[Path], object], says: str
) -> None:
    damage(finished)
    problems = _problems(project)
    assert any(says in p for p in problems), problems


def test_checker_reports_a_checkpoint_ahead_of_its_markers(
    project: Project, finished: Path
) -> None:
    for number in range(10, 20):
        (finished / f"step_{number:02d}.complete").unlink()
    problems = _problems(project)
    assert any("run ahead" in p for p in problems), problems


def test_log_check_reports_a_marked_step_run_again(project: Project, finished: Path) -> None:
    """A step with a marker that begins again, or two re-runs after one kill, are caught."""
    game = harness.Round(project.root, random.Random(0), harness.Figures(seed=0, target=0), {})
    log = project.root / "effects.log"
    pid = 4242
    log.write_text("".join(f"begin {n} {pid}\nend {n} {pid}\n" for n in range(3)))
    assert game.check_log(pid, set(), None) == []
    with log.open("a") as f:
        f.write(f"begin 1 {pid}\nend 1 {pid}\n")
    assert any("a marker ran again" in p for p in game.check_log(pid, {0, 1, 2}, None))
    with log.open("a") as f:
        f.write(f"begin 3 {pid + 1}\nend 3 {pid + 1}\nbegin 4 {pid}\nbegin 5 {pid}\n")
    problems = game.check_log(pid, {0, 1, 2}, None)
    assert any(f"not {pid}" in p for p in problems), problems
    assert any("ended" in p for p in problems), problems
