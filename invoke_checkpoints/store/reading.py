"""Fast, read-only loading of a run's files for ``status``, ``list``, ``clean`` and the ETA.

The pydantic models own the format, and importing and building them costs about 150 ms: more
than the rest of ``status``. So these readers first check a document against the tables below
with the standard library. The tables accept only what this package writes (exact JSON types,
finite numbers, canonical timestamps), which the models accept too; a document the tables do not
accept is handed to the model, which either accepts it (a coercion the tables do not make) or
raises the error naming the field. A healthy run is read without pydantic, and a damaged one is
judged by the models exactly as before. ``tests/test_reading.py`` derives the tables from the
models' JSON Schemas and fails when they differ.

Documents come back as JSON-shaped dicts (timestamps as strings), with top-level defaults filled.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .vocabulary import (
    TIMESTAMP_FORMAT,
    RunStatus,
    StepStatus,
    check_version,
    load_object,
)

__all__ = [
    "CHECKPOINT",
    "MARKER",
    "STATE",
    "compile_spec",
    "load_checkpoint",
    "load_marker",
    "load_state",
    "parse_timestamp",
]

#: A field's type: "int", "float", "str", "bool", "timestamp", "json" (any JSON value), a
#: trailing "?" for null too; ("list", T), ("map", T) (string keys), ("enum", values);
#: or a nested object: {field: (type, required)}.
Spec = Any
Check = Callable[[Any], bool]
_I64 = 2**63
_MAX_DEPTH = 100


def _int(v: Any) -> bool:
    return type(v) is int and -_I64 <= v < _I64


def _float(v: Any) -> bool:
    return (type(v) is float and math.isfinite(v)) or _int(v)


#: strptime alone is looser: space-padded fields, any Unicode digit, lower-case t/z.
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\Z", re.ASCII)


def _timestamp(v: Any) -> bool:
    if type(v) is not str or not _TIMESTAMP.match(v):
        return False
    try:
        datetime.strptime(v, TIMESTAMP_FORMAT)
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


_SCALARS: dict[str, Check] = {
    "int": _int,
    "float": _float,
    "str": lambda v: type(v) is str,
    "bool": lambda v: type(v) is bool,
    "timestamp": _timestamp,
    "json": _json,
}


def compile_spec(spec: Spec) -> Check:
    """A predicate that accepts exactly the values of type ``spec``."""
    if isinstance(spec, str):
        if spec.endswith("?"):
            inner = compile_spec(spec[:-1])
            return lambda v: v is None or inner(v)
        return _SCALARS[spec]
    if isinstance(spec, dict):
        fields = {name: (compile_spec(t), required) for name, (t, required) in spec.items()}

        def fits(v: Any) -> bool:
            if type(v) is not dict:
                return False
            for name, (check, required) in fields.items():
                if name in v:
                    if not check(v[name]):
                        return False
                elif required:
                    return False
            return True

        return fits
    kind, arg = spec
    if kind == "enum":
        allowed = frozenset(arg)
        return lambda v: type(v) is str and v in allowed
    item = compile_spec(arg)
    if kind == "list":
        return lambda v: type(v) is list and all(item(x) for x in v)
    return lambda v: type(v) is dict and all(item(x) for x in v.values())  # "map"


_RUN = ("enum", tuple(s.value for s in RunStatus))
_GROUP = ("enum", ("pending", "running", "completed", "failed", "interrupted"))
_GROUP_STATE = {"steps": (("list", "int"), True), "status": (_GROUP, False)}

#: checkpoint.json (models.Checkpoint).
CHECKPOINT: dict[str, tuple[Spec, bool]] = {
    "version": ("str", False),
    "workflow_id": ("str", True),
    "workflow": ("str", True),
    "project_path": ("str", True),
    "started_at": ("timestamp", True),
    "last_checkpoint": ("timestamp", True),
    "status": (_RUN, False),
    "completed_steps": (("list", "int"), False),
    "current_step": ("int?", False),
    "total_steps": ("int", True),
    "steps": (("list", "str"), True),
    "execution_mode": (
        dict.fromkeys(("auto", "smart_execution", "parallel", "dry_run"), ("bool", False)),
        False,
    ),
    "smart_execution": (
        {
            "enabled": ("bool", False),
            "skipped_steps": (("list", "int"), False),
            "skip_reason": ("str?", False),
            "reasons": (("map", "str"), False),
        },
        False,
    ),
    "parallel_execution": (
        {
            "enabled": ("bool", False),
            "max_workers": ("int?", False),
            "groups": (("list", _GROUP_STATE), False),
        },
        False,
    ),
    "environment": (("map", "json"), False),
    "metadata": ({"user": ("str", True), "hostname": ("str", True), "pid": ("int", True)}, True),
    "options": (("map", "json"), False),
    "durations": (("map", "float"), False),
    "vars": (("map", "json"), False),
    "warnings": (("list", "str"), False),
    "finished_at": ("timestamp?", False),
}

#: state/step_NN_state.json (models.StepState).
STATE: dict[str, tuple[Spec, bool]] = {
    "step": ("int", True),
    "name": ("str", True),
    "status": (("enum", tuple(s.value for s in StepStatus)), True),
    "args": (("map", "json"), False),
    "started_at": ("timestamp?", False),
    "completed_at": ("timestamp?", False),
    "duration_seconds": ("float?", False),
    "exit_code": ("int?", False),
    "outputs": (("map", "json"), False),
    "errors": (("list", "str"), False),
    "warnings": (("list", "str"), False),
    "reason": ("str?", False),
    "attempts": ("int", False),
}

#: step_NN.complete (models.Marker; values are text, converted below).
MARKER: dict[str, tuple[Spec, bool]] = {
    "STEP": ("int", True),
    "NAME": ("str", True),
    "COMPLETED_AT": ("timestamp", True),
    "DURATION_SECONDS": ("float", True),
    "EXIT_CODE": ("int", False),
}

#: Top-level defaults (the models' field defaults), so callers need no ``.get``.
_CHECKPOINT_DEFAULTS: dict[str, Any] = {
    "status": "running",
    "completed_steps": [],
    "current_step": 0,
    "warnings": [],
    "finished_at": None,
    "durations": {},
    "vars": {},
    "options": {},
    "environment": {},
}
_STATE_DEFAULTS: dict[str, Any] = {
    "args": {},
    "started_at": None,
    "completed_at": None,
    "duration_seconds": None,
    "exit_code": None,
    "outputs": {},
    "errors": [],
    "warnings": [],
    "reason": None,
    "attempts": 1,
}
_CHECKPOINT_OK = compile_spec(CHECKPOINT)
_STATE_OK = compile_spec(STATE)


def _defaults(raw: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    for key, value in defaults.items():
        if key not in raw:
            raw[key] = value.copy() if isinstance(value, (list, dict)) else value
    return raw


def load_checkpoint(data: bytes, source: str) -> dict[str, Any]:
    """checkpoint.json as a dict, validated (see the module docstring)."""
    raw = load_object(data, source)
    check_version(raw, source)
    if _CHECKPOINT_OK(raw):
        return _defaults(raw, _CHECKPOINT_DEFAULTS)
    from .models import Checkpoint

    dumped: dict[str, Any] = Checkpoint.from_json(data, source=source).model_dump(mode="json")
    return dumped


def load_state(data: bytes, source: str) -> dict[str, Any]:
    """A step state file as a dict, validated."""
    raw = load_object(data, source)
    if _STATE_OK(raw):
        return _defaults(raw, _STATE_DEFAULTS)
    from .models import StepState

    dumped: dict[str, Any] = StepState.from_json(data, source=source).model_dump(mode="json")
    return dumped


_INT_TEXT = re.compile(r"(?:0|[1-9]\d{0,17})\Z", re.ASCII)
_FLOAT_TEXT = re.compile(r"\d{1,15}(?:\.\d{1,9})?\Z", re.ASCII)
#: What ``shlex.quote`` leaves unquoted.
_PLAIN = re.compile(r"[\w@%+=:,./-]*\Z", re.ASCII)


def load_marker(data: bytes, source: str) -> dict[str, Any]:
    """A completion marker as a dict (STEP, NAME, COMPLETED_AT, DURATION_SECONDS, EXIT_CODE)."""
    fields = _marker_fields(data)
    if fields is not None:
        return fields
    from .models import Marker

    dumped: dict[str, Any] = Marker.from_text(data, source=source).model_dump(mode="json")
    return dumped


def _marker_fields(data: bytes) -> dict[str, Any] | None:
    """The marker's fields when it is exactly as this package writes them, else ``None``."""
    values = _marker_values(data)
    if values is None:
        return None
    values.setdefault("EXIT_CODE", "0")
    sound = (
        len(values) == len(MARKER)
        and values["EXIT_CODE"] == "0"
        and _INT_TEXT.match(values["STEP"])
        and _FLOAT_TEXT.match(values["DURATION_SECONDS"])
        and _timestamp(values["COMPLETED_AT"])
    )
    if not sound:
        return None
    return {
        "STEP": int(values["STEP"]),
        "NAME": values["NAME"],
        "COMPLETED_AT": values["COMPLETED_AT"],
        "DURATION_SECONDS": float(values["DURATION_SECONDS"]),
        "EXIT_CODE": 0,
    }


def _marker_values(data: bytes) -> dict[str, str] | None:
    """KEY=VALUE lines of known keys, each once, values unquoted like ``Marker.from_text``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key not in MARKER or key in values:
            return None
        if not _PLAIN.match(value):
            try:
                parts = shlex.split(value)
            except ValueError:
                return None
            if len(parts) != 1:
                return None
            value = parts[0]
        values[key] = value
    return values


def parse_timestamp(value: str) -> datetime:
    """A timestamp of a loaded document (canonical, or normalised by the model's dump)."""
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
