"""JSON text as the format writes it (pydantic's output, without pydantic): a record's
document indented (``pretty``) or compact (``dumps``), and a growing list or dict encoded
incrementally (``Appended``). Standard library only.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring as _string
from typing import Any

__all__ = ["Appended", "dumps", "pretty"]


def pretty(doc: dict[str, Any]) -> bytes:
    """``json.dumps(doc, indent=2)`` (pydantic's ``model_dump_json(indent=2)``) and a newline.

    The standard library indents in Python, value by value: three times slower than this for a
    state file, whose top-level values are nearly all scalars. They are written here, and only
    a non-empty list or dict is left to ``json.dumps`` (its lines indented one level more: JSON
    text has no other line break).
    """
    lines = []
    for key, value in doc.items():
        kind = type(value)
        if type(key) is not str:
            return (dumps(doc, indent=2) + "\n").encode()
        if kind is str:
            text = _string(value)
        elif kind is int:
            text = int.__repr__(value)
        elif value is None or kind is bool:
            text = _CONSTANTS[value]
        elif kind is float and math.isfinite(value):
            text = float.__repr__(value)
        elif (kind is dict or kind is list) and not value:
            text = "{}" if kind is dict else "[]"
        else:
            text = dumps(value, indent=2).replace("\n", "\n  ")
        lines.append(f"  {_string(key)}: {text}")
    if not lines:
        return b"{}\n"
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


#: JSON's constants, by the Python value.
_CONSTANTS = {None: "null", True: "true", False: "false"}


def dumps(value: Any, **options: Any) -> str:
    """JSON text; a non-finite float is written ``null``, as pydantic writes it (JSON has no
    other way to say it)."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, **options)


def _finite(value: Any) -> Any:
    if type(value) is float:
        return value if math.isfinite(value) else None
    if type(value) is dict:
        return {k: _finite(v) for k, v in value.items()}
    if type(value) is list:
        return [_finite(v) for v in value]
    return value


class Appended:
    """The JSON of a list (or dict) that usually only grows at its end between two calls:
    only the new items are encoded; any other change encodes it again from scratch."""

    __slots__ = ("_body", "_keys", "_values")

    def __init__(self) -> None:
        self._keys: list[Any] = []
        self._values: list[Any] = []
        self._body = b""

    def encode(self, value: list[Any] | dict[str, Any]) -> bytes:
        is_dict = isinstance(value, dict)
        # Keys and values as two lists: cheaper to build and compare than item tuples.
        keys = list(value) if is_dict else []
        values = list(value.values()) if is_dict else list(value)  # type: ignore[union-attr]
        known = len(self._values)
        if (
            len(values) < known
            or values[:known] != self._values
            or keys[:known] != self._keys[:known]
        ):
            known, self._keys, self._values, self._body = 0, [], [], b""
        if len(values) > known:
            new: Any = values[known:]
            if is_dict:
                new = dict(zip(keys[known:], new, strict=True))
            tail = dumps(new, separators=(",", ":")).encode()[1:-1]
            self._body = self._body + b"," + tail if self._body else tail
            self._keys, self._values = keys, values
        return (b"{" + self._body + b"}") if is_dict else (b"[" + self._body + b"]")
