"""The JSON Schema compiler of the fast readers (``schema_check.py``): exact, and loud.

Each predicate accepts exactly the JSON values of its schema as this package writes them (no
coercion: pydantic may accept more, never less); keywords it does not implement are refused
when compiling rather than ignored. That the fast readers agree with the models on real files
is ``test_reading.py``'s job.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from invoke_checkpoints.store.schema_check import SchemaError, compile_document


def _field(node: dict[str, Any], *, defs: dict[str, Any] | None = None) -> Any:
    """The predicate of a one-field document, applied to ``{"x": value}``."""
    schema = {"type": "object", "properties": {"x": node}, "$defs": defs or {}}
    check = compile_document(schema).check
    return lambda value: check({"x": value})


@pytest.mark.parametrize(
    ("node", "accepted", "refused"),
    [
        ({"type": "integer"}, [0, -(2**63), 2**63 - 1], [True, 1.0, "1", None, 2**63]),
        ({"type": "number"}, [0, 1.5, -1e300], [False, math.nan, math.inf, "1.5", 2**63]),
        ({"type": "boolean"}, [True, False], [0, 1, "true", None]),
        ({"type": "string"}, ["", "x"], [1, None, ["x"]]),
        (
            {"type": "string", "format": "date-time"},
            ["2026-11-26T23:30:15Z", "0999-01-01T00:00:00Z"],
            ["2026-11-26T23:30:15+00:00", "2026-02-30T00:00:00Z", "2026-11- 1T00:00:00Z"],
        ),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, [None, 3], [True, "3", 1.5]),
        ({"type": ["integer", "null"]}, [None, 3], [True, "3"]),
        ({"enum": ["a", "b"], "type": "string"}, ["a", "b"], ["c", None, ["a"], {"a": 1}]),
        ({"enum": [1, True]}, [1, True], [1.0, 0, False]),
        ({"const": 0}, [0], [False, 0.0, 1]),
        ({"type": "integer", "minimum": 0, "maximum": 0}, [0], [1, -1, False]),
        ({"type": "number", "exclusiveMinimum": 0}, [0.5, 1], [0, -1]),
        ({"type": "array", "items": {"type": "integer"}}, [[], [1, 2]], [[True], (1,), [1.0]]),
        ({"type": "array"}, [[], [None, {"a": [1.5]}]], [[math.nan], [[2**64]]]),
        (
            {"type": "object", "additionalProperties": {"type": "number"}},
            [{}, {"a": 1, "b": 2.5}],
            [[], {"a": "1"}, {"a": math.inf}],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            [{"a": 1}, {"a": 1, "free": [None]}],
            [{}, {"a": None}, {"a": 1, "free": math.nan}],
        ),
        (
            {"type": "object", "properties": {"a": {"type": "integer"}},
             "additionalProperties": False},
            [{}, {"a": 1}],
            [{"b": 1}],
        ),
        ({}, [None, 1, "x", [1, {"a": True}]], [math.nan, 2**63, {"a": [math.inf]}]),
    ],
)  # fmt: skip
def test_compiled_checks_are_exact(
    node: dict[str, Any], accepted: list[Any], refused: list[Any]
) -> None:
    check = _field(node)
    assert [v for v in accepted if not check(v)] == []
    assert [v for v in refused if check(v)] == []


def test_free_form_values_have_bounded_depth() -> None:
    check = _field({})
    deep: Any = 1
    for _ in range(100):
        deep = [deep]
    assert check(deep)
    assert not check([deep])


def test_references_resolve_even_recursively() -> None:
    node = {
        "type": "object",
        "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
    }
    check = _field({"$ref": "#/$defs/Node"}, defs={"Node": node})
    assert check({"kids": [{"kids": []}, {}]})
    assert not check({"kids": [{"kids": [1]}]})


@pytest.mark.parametrize(
    "node",
    [
        {"type": "string", "pattern": "^a"},
        {"type": "string", "format": "uuid"},
        {"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
        {"oneOf": [{"type": "integer"}]},
        {"properties": {"a": {}}},
        {"$ref": "other.json#/x"},
        {"type": "tuple"},
    ],
)
def test_keywords_outside_the_subset_are_refused_at_compile_time(node: dict[str, Any]) -> None:
    """Checking them loosely would let the fast path accept what the model refuses."""
    with pytest.raises(SchemaError):
        _field(node)
