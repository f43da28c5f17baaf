"""Compile the JSON Schemas of the models into predicates, with the standard library only.

The fast readers (``reading.py``) check a document against its model's schema without
pydantic. A predicate is stricter than the model, never looser: it accepts only values as
``json.loads`` makes them from what this package writes (exact JSON types, so a bool is not an
integer; finite numbers; integers within ±2**63; timestamps exactly as ``iso()`` writes them;
free-form values nested at most 100 deep). Whatever it refuses goes to the model, which accepts
it (a coercion) or names the bad field. Only the subset of JSON Schema that pydantic emits for
these models is understood; any other keyword raises ``SchemaError`` when compiling, so that a
model change this module cannot follow fails the tests instead of being checked loosely.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

__all__ = ["Check", "Document", "SchemaError", "compile_document", "is_timestamp"]

Check = Callable[[Any], bool]
_I64 = 2**63
_MAX_DEPTH = 100
#: Keywords that describe and never constrain ("default" is read by ``compile_document``).
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated", "$comment"})
_TYPED = {
    "object": frozenset({"properties", "required", "additionalProperties"}),
    "array": frozenset({"items"}),
    "integer": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}),
    "number": frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}),
    "string": frozenset({"format"}),
    "boolean": frozenset(),
    "null": frozenset(),
}
_KNOWN = _ANNOTATIONS.union({"$ref", "$defs", "anyOf", "enum", "const", "type"}, *_TYPED.values())
_SCALARS = (str, int, float, bool, type(None))


class SchemaError(ValueError):
    """A schema uses JSON Schema this compiler does not implement."""


class Document:
    """A compiled top-level object schema: its predicate, and what a reader needs besides."""

    __slots__ = ("check", "defaults", "fields")

    def __init__(self, check: Check, defaults: dict[str, Any], fields: dict[str, Any]) -> None:
        #: Accepts exactly the documents the fast path may return as they are.
        self.check = check
        #: The ``default`` of each top-level field that has one (JSON values; copy before use).
        self.defaults = defaults
        #: Each top-level field's schema node, ``$ref`` resolved.
        self.fields = fields


def compile_document(schema: dict[str, Any]) -> Document:
    """Compile a model's JSON Schema (an object with ``properties``)."""
    defs: dict[str, Any] = schema.get("$defs", {})
    if schema.get("type") != "object" or "properties" not in schema:
        raise SchemaError("a document schema is an object with properties")
    fields = {name: _resolve(node, defs) for name, node in schema["properties"].items()}
    defaults = {name: node["default"] for name, node in fields.items() if "default" in node}
    return Document(_Compiler(defs).compile(schema), defaults, fields)


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = {**defs[_def_name(node["$ref"])], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _def_name(ref: str) -> str:
    if not ref.startswith("#/$defs/"):
        raise SchemaError(f"only local $defs references are supported, not {ref!r}")
    return ref[len("#/$defs/") :]


class _Compiler:
    """Compiles the nodes of one schema, each ``$defs`` entry once."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs
        self.done: dict[str, Check | None] = {}

    def compile(self, node: dict[str, Any]) -> Check:
        unknown = node.keys() - _KNOWN
        if unknown:
            raise SchemaError(f"unsupported JSON Schema keywords: {sorted(unknown)}")
        checks: list[Check] = []
        if "$ref" in node:
            checks.append(self.ref(_def_name(node["$ref"])))
        if "anyOf" in node:
            checks.append(_any_of([self.compile(option) for option in node["anyOf"]]))
        if "enum" in node or "const" in node:
            checks.append(_one_of(node["enum"] if "enum" in node else [node["const"]]))
        if "type" in node:
            checks.append(self.typed(node))
        elif any(k in node for keys in _TYPED.values() for k in keys):
            raise SchemaError(f"type-specific keywords without a type: {sorted(node)}")
        elif not checks:
            checks.append(_json)  # no constraint (pydantic's JsonValue): any JSON value
        return checks[0] if len(checks) == 1 else _all_of(checks)

    def ref(self, name: str) -> Check:
        if name not in self.done:
            self.done[name] = None  # a recursive reference finds this and looks it up later
            self.done[name] = self.compile(self.defs[name])
        found = self.done[name]
        if found is not None:
            return found

        def later(v: Any) -> bool:
            check = self.done[name]
            return check is not None and check(v)

        return later

    def typed(self, node: dict[str, Any]) -> Check:
        """The ``type`` keyword with the keywords that apply to each of its types."""
        kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
        return _any_of([self.kind(kind, node) for kind in kinds])

    def kind(self, kind: str, node: dict[str, Any]) -> Check:
        if kind == "object":
            return self.object(node)
        if kind == "array":
            item = self.compile(node.get("items", {}))
            return lambda v: type(v) is list and all(item(x) for x in v)
        if kind in ("integer", "number"):
            return _bounded(_int if kind == "integer" else _float, node)
        if kind == "string":
            return _string(node.get("format"))
        if kind == "boolean":
            return lambda v: type(v) is bool
        if kind == "null":
            return _is_null
        raise SchemaError(f"unknown type {kind!r}")

    def object(self, node: dict[str, Any]) -> Check:
        fields = {name: self.compile(sub) for name, sub in node.get("properties", {}).items()}
        required = tuple(node.get("required", ()))
        extra_schema = node.get("additionalProperties", True)
        extra: Check | None = None
        if extra_schema is not False:  # absent and true both mean any JSON value
            extra = self.compile({} if extra_schema is True else extra_schema)

        def fits(v: Any) -> bool:
            if type(v) is not dict:
                return False
            for name in required:
                if name not in v:
                    return False
            for key, value in v.items():
                check = fields.get(key, extra)
                if check is None or not check(value):
                    return False
            return True

        return fits


def _is_null(v: Any) -> bool:
    return v is None


def _any_of(checks: list[Check]) -> Check:
    """Any of ``checks`` (most documents' values meet the first): nullable fields, the
    commonest case, test ``None`` directly rather than through a second call."""
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2 and _is_null in checks:
        other = checks[0] if checks[1] is _is_null else checks[1]
        return lambda v: v is None or other(v)

    def any_of(v: Any) -> bool:
        # A loop, not any(<generator>): the generator costs more than most checks.
        for check in checks:  # noqa: SIM110
            if check(v):
                return True
        return False

    return any_of


def _all_of(checks: list[Check]) -> Check:
    def all_of(v: Any) -> bool:
        for check in checks:  # noqa: SIM110 (a loop, not a generator: see any_of)
            if not check(v):
                return False
        return True

    return all_of


def _int(v: Any) -> bool:
    return type(v) is int and -_I64 <= v < _I64


def _float(v: Any) -> bool:
    return (type(v) is float and math.isfinite(v)) or _int(v)


def _bounded(base: Check, node: dict[str, Any]) -> Check:
    lo, hi = node.get("minimum"), node.get("maximum")
    xlo, xhi = node.get("exclusiveMinimum"), node.get("exclusiveMaximum")
    if lo is None and hi is None and xlo is None and xhi is None:
        return base

    def fits(v: Any) -> bool:
        return (
            base(v)
            and (lo is None or v >= lo)
            and (hi is None or v <= hi)
            and (xlo is None or v > xlo)
            and (xhi is None or v < xhi)
        )

    return fits


def _string(fmt: str | None) -> Check:
    if fmt is None:
        return lambda v: type(v) is str
    if fmt == "date-time":
        return is_timestamp
    raise SchemaError(f"unsupported string format {fmt!r}")


def _one_of(values: list[Any]) -> Check:
    """``enum``/``const``: equal and of the same JSON type (``True`` is not ``1``)."""
    if not all(isinstance(value, _SCALARS) for value in values):
        raise SchemaError("only scalar enum values are supported")
    allowed = frozenset((type(value), value) for value in values)
    return lambda v: isinstance(v, _SCALARS) and (type(v), v) in allowed


#: strptime alone is looser: space-padded fields, any Unicode digit, lower-case t/z.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z", re.ASCII)


def is_timestamp(v: Any) -> bool:
    """``v`` is a timestamp exactly as ``iso()`` writes it, and a real date and time."""
    if type(v) is not str or not _TIMESTAMP.match(v):
        return False
    try:  # the pattern fixed the form; fromisoformat (C) checks the date is real, as strptime
        datetime.fromisoformat(v[:-1])
    except ValueError:
        return False
    return True


def _json(v: Any, depth: int = 0) -> bool:
    """A JSON value as ``json.loads`` makes it: finite numbers, bounded nesting."""
    t = type(v)
    if t is dict:
        return depth < _MAX_DEPTH and all(_json(x, depth + 1) for x in v.values())
    if t is list:
        return depth < _MAX_DEPTH and all(_json(x, depth + 1) for x in v)
    if t is float:
        return math.isfinite(v)
    return v is None or t is str or t is bool or _int(v)
