"""Fast, read-only loading of a run's files for ``status``, ``list``, ``clean`` and the ETA.

The pydantic models own the format, and importing and building them costs about 150 ms: more
than the rest of ``status``. So these readers first check a document with the standard library
against the models' own JSON Schemas, shipped in ``store/schemas/`` and compiled into predicates
by ``schema_check.py``. The predicates accept only what this package writes, which the models
accept too; a document they do not accept is handed to the model, which either accepts it (a
coercion the predicates do not make) or raises the error naming the field. A healthy run is read
without pydantic, and a damaged one is judged by the models exactly as before.

Documents come back as JSON-shaped dicts (timestamps as strings), with top-level defaults filled
from the schemas' ``default`` values.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timezone
from functools import cache
from typing import Any

from ..errors import CorruptCheckpointError
from .schema_check import Document, compile_document
from .schemas import load
from .vocabulary import TIMESTAMP_FORMAT, check_version, load_object

__all__ = [
    "CHECKPOINT_SCHEMA",
    "MARKER_SCHEMA",
    "STATE_SCHEMA",
    "document",
    "load_checkpoint",
    "load_marker",
    "load_state",
    "parse_timestamp",
]

#: The shipped schema of each file (``store/schemas/``), as ``models.json_schemas()`` names them.
CHECKPOINT_SCHEMA = "checkpoint.schema.json"
STATE_SCHEMA = "step_state.schema.json"
MARKER_SCHEMA = "marker.schema.json"


@cache
def document(name: str) -> Document:
    """The shipped schema ``name`` (one of the ``*_SCHEMA`` names), compiled once."""
    return compile_document(load(name))


def _with_defaults(raw: dict[str, Any], doc: Document) -> dict[str, Any]:
    for key, value in doc.defaults.items():
        if key not in raw:
            raw[key] = _fresh(value)
    return raw


def _fresh(value: Any) -> Any:
    """A copy of a JSON default, so that no caller mutates the schema's."""
    if type(value) is dict:
        return {k: _fresh(v) for k, v in value.items()}
    if type(value) is list:
        return [_fresh(v) for v in value]
    return value


def load_checkpoint(data: bytes, source: str) -> dict[str, Any]:
    """checkpoint.json as a dict, validated (see the module docstring)."""
    raw = load_object(data, source)
    check_version(raw, source)
    doc = document(CHECKPOINT_SCHEMA)
    if doc.check(raw):
        return _with_defaults(raw, doc)
    from .models import Checkpoint

    return _dumped(Checkpoint.from_json(data, source=source), source)


def load_state(data: bytes, source: str) -> dict[str, Any]:
    """A step state file as a dict, validated."""
    raw = load_object(data, source)
    doc = document(STATE_SCHEMA)
    if doc.check(raw):
        return _with_defaults(raw, doc)
    from .models import StepState

    return _dumped(StepState.from_json(data, source=source), source)


def _dumped(model: Any, source: str) -> dict[str, Any]:
    """A document the model accepted, in the form the fast readers give. A value it accepted
    but cannot write back (a timestamp whose UTC form is out of range, such as
    ``9999-12-31T23:00:00-05:00``) makes the file invalid: one line, not a traceback."""
    try:
        dumped: dict[str, Any] = model.model_dump(mode="json")
    except (ValueError, OverflowError) as exc:  # pydantic's serialization error is a ValueError
        why = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise CorruptCheckpointError(f"{source}: a value cannot be represented ({why})") from None
    return dumped


_INT_TEXT = re.compile(r"(?:0|[1-9]\d{0,17})\Z", re.ASCII)
_FLOAT_TEXT = re.compile(r"\d{1,15}(?:\.\d{1,9})?\Z", re.ASCII)
#: A marker key (``models.Marker``): known, or a newer version's (skipped).
_KEY = re.compile(r"[A-Z][A-Z0-9_]*\Z", re.ASCII)
#: What ``shlex.quote`` leaves unquoted.
_PLAIN = re.compile(r"[\w@%+=:,./-]*\Z", re.ASCII)


def load_marker(data: bytes, source: str) -> dict[str, Any]:
    """A completion marker as a dict (STEP, NAME, COMPLETED_AT, DURATION_SECONDS, EXIT_CODE)."""
    fields = _marker_fields(data)
    if fields is not None:
        return fields
    from .models import Marker

    return _dumped(Marker.from_text(data, source=source), source)


def _marker_fields(data: bytes) -> dict[str, Any] | None:
    """The marker's fields when it is exactly as this package writes them, else ``None``."""
    doc = document(MARKER_SCHEMA)
    values = _marker_values(data, doc)
    if values is None:
        return None
    fields: dict[str, Any] = {}
    for key, text in values.items():
        value = _from_text(text, doc.fields[key].get("type"))
        if value is None:
            return None
        fields[key] = value
    fields = _with_defaults(fields, doc)
    return fields if doc.check(fields) else None


def _from_text(text: str, kind: Any) -> Any:
    """A marker value as its schema type, when written in the one form this package writes."""
    if kind == "string":
        return text
    if kind == "integer" and _INT_TEXT.match(text):
        return int(text)
    if kind == "number" and _FLOAT_TEXT.match(text):
        return float(text)
    return None  # another form, or another type: the model decides


def _marker_values(data: bytes, doc: Document) -> dict[str, str] | None:
    """KEY=VALUE lines, known keys each once, values unquoted like ``Marker.from_text``; an
    unknown key (a newer minor version's) is skipped once its value parses, as the model
    ignores it."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or key in values or not _KEY.match(key):
            return None
        if not _PLAIN.match(value):
            try:
                parts = shlex.split(value)
            except ValueError:
                return None
            if len(parts) != 1:
                return None
            value = parts[0]
        if key in doc.fields:
            values[key] = value
    return values


def parse_timestamp(value: str) -> datetime:
    """A timestamp of a loaded document (canonical, or normalised by the model's dump)."""
    return datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
