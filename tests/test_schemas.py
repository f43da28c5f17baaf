"""The JSON Schemas in docs/schemas/ describe the format this version writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from invoke_checkpoints.store.schemas import render

DOCS = Path(__file__).resolve().parent.parent / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(render()))
def test_committed_schema_is_current(name: str) -> None:
    """A model change without `invoke schemas` leaves docs/schemas stale; this catches it."""
    committed = DOCS / name
    assert committed.exists(), f"{committed} missing: run `invoke schemas`"
    assert committed.read_text() == render()[name], f"{committed} is stale: run `invoke schemas`"
