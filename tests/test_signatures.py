"""Step signatures computed a batch at a time (``run/naming.py``, ``Signatures``)."""

from __future__ import annotations

from typing import Any

import pytest
from invoke import Task

from invoke_checkpoints.run.definition import StepSpec
from invoke_checkpoints.run.naming import Signatures, step_signature


def _first(c: Any) -> None:
    """A step."""


def _second(c: Any, value: object = None) -> None:
    """Another step."""


first: Task[Any] = Task(_first)
second: Task[Any] = Task(_second)


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def specs(n: int, bad: int | None = None) -> list[StepSpec]:
    return [
        StepSpec(i, f"s{i}", second, {"value": Unprintable() if i == bad else i}) for i in range(n)
    ]


def test_each_step_gets_its_own_signature() -> None:
    steps = [StepSpec(0, "first", first), *specs(200)[1:]]
    signatures = Signatures(steps, set())
    assert [signatures.of(s) for s in steps] == [step_signature(s) for s in steps]


def test_a_step_with_a_marker_is_skipped_and_a_batch_refills() -> None:
    steps = specs(Signatures.BATCH * 3)
    done = {5, 6, 100}
    signatures = Signatures(steps, done)
    for spec in steps:
        if spec.number not in done:
            assert signatures.of(spec) == step_signature(spec)


def test_a_later_steps_error_is_raised_at_that_step_only() -> None:
    steps = specs(10, bad=4)
    signatures = Signatures(steps, set())
    for spec in steps[:4]:
        assert signatures.of(spec) == step_signature(spec)
    with pytest.raises(RuntimeError, match="no repr"):
        signatures.of(steps[4])
    assert signatures.of(steps[5]) == step_signature(steps[5])
