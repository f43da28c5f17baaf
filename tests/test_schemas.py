"""The JSON Schemas shipped in ``store/schemas/`` describe the format the models write."""

from __future__ import annotations

import pytest

from invoke_checkpoints.store.schemas import SCHEMA_DIR, render


@pytest.mark.parametrize("name", sorted(render()))
def test_committed_schema_is_current(name: str) -> None:
    """A model change without `invoke schemas` leaves the shipped schemas stale; this catches
    it (the fast readers would check the files against the old schema)."""
    committed = SCHEMA_DIR / name
    assert committed.exists(), f"{committed} missing: run `invoke schemas`"
    assert committed.read_text() == render()[name], f"{committed} is stale: run `invoke schemas`"


def test_every_committed_schema_is_generated() -> None:
    """No leftover schema of a file the models no longer describe."""
    assert {p.name for p in SCHEMA_DIR.glob("*.json")} == set(render())
