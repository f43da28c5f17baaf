"""The crash matrix against a bucket (``remote_matrix.py``): SIGKILL at each kill point, resume
on another machine, no completed step re-run, ``status`` shows the markers' truth.

The short form (CI) kills a fresh run once at each of ``KILL_POINTS`` and once more in a chain
of kills during takeovers and resumes. The full form, ``RELIABILITY_S3_FULL=1``, kills a fresh
run after every one of its writes in turn (each followed by a kill at a random point of the
resume), then ``RELIABILITY_KILLS`` (default 50) random kills.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import pytest

from ..remote_support import have_s3
from . import harness
from .remote_matrix import KILL_POINTS, RemoteRound, calibrate, new_figures, timed

if TYPE_CHECKING:
    from pathlib import Path

    from ..remote_support import S3Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have_s3(), reason="needs the s3 and test extras (obstore, moto)"),
]

FULL = os.environ.get("RELIABILITY_S3_FULL") == "1"


@pytest.fixture
def figures() -> harness.Figures:
    """Figures with a rough timing of a run against the bucket, for the short form's timed
    kill (the full form measures it: ``calibrate``)."""
    made = new_figures(seed=0, target=0)
    made.calibration = {"full_run_seconds": 1.5, "startup_seconds": 0.5}
    return made


def _play(
    server: S3Server, workdir: Path, figures: harness.Figures, plans: list[harness.Plan]
) -> harness.Figures:
    mine = new_figures(seed=figures.seed, target=len(plans))
    mine.calibration = figures.calibration
    played = RemoteRound(workdir, server, random.Random(mine.seed), mine).play_plans(plans)
    assert played, "\n".join(mine.violations) + f"\n(kept in {mine.kept})"
    return mine


@pytest.mark.timeout(120)
@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_kill_at_each_point_is_resumed_on_the_other_machine(
    point: str, server: S3Server, figures: harness.Figures, tmp_path: Path
) -> None:
    played = _play(server, tmp_path / "round", figures, [harness.Plan(fault=point)])
    assert played.kills == 1, f"{point} ({KILL_POINTS[point]}) was never reached"
    assert played.marked_reruns == 0
    assert played.max_reruns_per_kill <= 1


@pytest.mark.timeout(180)
def test_kills_during_takeovers_and_resumes(
    server: S3Server, figures: harness.Figures, tmp_path: Path
) -> None:
    """Machine A is killed mid-run; B is killed right after taking the lease over; A is
    killed between a state and its marker; B at a random instant; A completes."""
    plans = [
        harness.Plan(fault="put:6:.complete"),
        harness.Plan(fault="put:1:.lock"),
        harness.Plan(fault="put:3:_state.json"),
        timed(random.Random(7), figures),
    ]
    played = _play(server, tmp_path / "round", figures, plans)
    assert played.kills >= 3, played.kills_by
    assert played.reruns >= 1  # the step in flight at a kill ran again, once
    assert played.marked_reruns == 0


@pytest.mark.skipif(not FULL, reason="the full form: RELIABILITY_S3_FULL=1")
@pytest.mark.timeout(0)
def test_full_matrix(server: S3Server, figures: harness.Figures, tmp_path: Path) -> None:
    """A kill after every write of a fresh run in turn, each resume killed at a random write
    or instant, then random kills until RELIABILITY_KILLS."""
    seed = int(os.environ.get("RELIABILITY_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    figures.calibration = calibrate(tmp_path / "calibration", server)
    total = new_figures(seed=seed, target=0)
    nth = 0
    while True:
        nth += 1
        second = (
            timed(rng, figures) if rng.random() < 0.3 else harness.Plan(fault=_random_point(rng))
        )
        played = _play(
            server, tmp_path / f"sweep{nth}", figures, [harness.Plan(fault=f"put:{nth}"), second]
        )
        total.kills += played.kills
        if played.survived_by.get("fault:put") and played.kills == 0:
            break  # put:nth came after the run's last write: every write was a kill point
    kills = int(os.environ.get("RELIABILITY_KILLS", "50"))
    while total.kills < nth + kills:
        plans = [
            timed(rng, figures) if rng.random() < 0.3 else harness.Plan(fault=_random_point(rng))
            for _ in range(rng.randint(1, 4))
        ]
        total.kills += _play(server, tmp_path / f"random{total.kills}", figures, plans).kills
    print(f"s3 crash matrix: {nth - 1} kill points swept, {total.kills} kills, seed {seed}")


def _random_point(rng: random.Random) -> str:
    suffix = rng.choice(["", ":.complete", ":_state.json", ":/checkpoint.json", ":.lock"])
    return f"put:{rng.randint(1, 25 if suffix in ('', ':.lock') else 12)}{suffix}"
