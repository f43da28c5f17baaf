"""A clock that jumped does not make ``--resume`` or ``status`` pick the wrong run: "latest"
is the run most recently started on this store, whatever its timestamp says."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from invoke_checkpoints.run import engine
from invoke_checkpoints.store.runs import run_started
from invoke_checkpoints.store.vocabulary import now_precise

from .conftest import Project, log_lines


def _shifted(days: int) -> Callable[[], tuple[datetime, float]]:
    """The run's start clock, ``days`` off (the engine names a new run after it)."""

    def now() -> tuple[datetime, float]:
        stamp, epoch = now_precise()
        return stamp + timedelta(days=days), epoch + days * 86_400

    return now


def _run_failing(project: Project) -> str:
    (project.root / "fail").touch()
    assert project.invoke("workflow").code == 3
    (project.root / "fail").unlink()
    status = project.invoke("workflow.status", "--json")
    return str(json.loads(status.out)["run_id"])


@pytest.mark.parametrize("jump", [365, -365], ids=["was-ahead", "went-back"])
def test_latest_is_the_run_started_last(
    project: Project, monkeypatch: pytest.MonkeyPatch, jump: int
) -> None:
    """was-ahead: a run made while the clock was a year ahead, then one with the clock right.
    went-back: a run, then one made after the clock went back a year. Either way ``status``
    and ``--resume`` take the second run, although the first one's id sorts after it."""
    project.use("fast_steps")
    first_offset, second_offset = (jump, 0) if jump > 0 else (0, jump)
    monkeypatch.setattr(engine, "now_precise", _shifted(first_offset))
    first = _run_failing(project)
    monkeypatch.setattr(engine, "now_precise", _shifted(second_offset))
    (project.root / "log.txt").unlink()
    (project.root / "fail").touch()
    assert project.invoke("workflow").code == 3
    (project.root / "fail").unlink()
    second_id = next(p.name for p in project.runs() if p.name != first)
    assert second_id < first  # its id says "older"
    status = json.loads(project.invoke("workflow.status", "--json").out)
    assert status["run_id"] == second_id
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert project.checkpoint(project.store / second_id)["status"] == "completed"
    assert project.checkpoint(project.store / first)["status"] == "failed"
    assert log_lines(project) == ["lint", "test", "test", "docs"]


def test_a_damaged_pointer_falls_back_to_the_newest_name(project: Project) -> None:
    """``<workflow>.latest`` missing, damaged or naming a removed run: the newest by name."""
    project.use("fast_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    pointer = project.store / "workflow.latest"
    assert pointer.read_text().strip() == run.name
    for content in (None, b"", b"garbage\n", b"workflow_20200101_000000\n", b"../x\n"):
        if content is None:
            pointer.unlink()
        else:
            pointer.write_bytes(content)
        status = json.loads(project.invoke("workflow.status", "--json").out)
        assert status["run_id"] == run.name, content


@given(date=st.integers(0, 10**8 - 1), time=st.integers(0, 10**6 - 1))
def test_a_run_ids_start_reads_like_strptime(date: int, time: int) -> None:
    """``run_started`` reads the id's stamp by hand (no _strptime import at start-up): the same
    instant as strptime, and a ValueError for a date that does not exist, as strptime."""
    run_id = f"workflow_{date:08d}_{time:06d}"
    try:
        expected: object = datetime.strptime(f"{date:08d}{time:06d}", "%Y%m%d%H%M%S").replace(
            tzinfo=timezone.utc
        )
    except ValueError:
        expected = ValueError
    try:
        got: object = run_started(run_id)
    except ValueError:
        got = ValueError
    assert got == expected
