"""JSON that can be written and read back: the one test for args, outputs, vars and results.

Standard library only: ``Step(args=...)`` is checked with it when tasks.py is imported.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "clean_text", "encode"]

#: Values nested deeper than this are not saved as they are: pydantic refuses to read back
#: JSON nested much deeper, and a run the package completed must never read as corrupt.
MAX_DEPTH = 100


def clean_text(text: str) -> str:
    """``text`` as valid UTF-8: lone surrogates (``os.fsdecode`` of a non-UTF-8 file name)
    become ``\\udcXX`` escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def encode(value: Any) -> str | None:
    """``value`` as JSON text that can be written and read back, or ``None``: not JSON, NaN,
    an integer too long for ``str``, a lone surrogate, nested deeper than ``MAX_DEPTH``."""
    try:
        if _depth(value, 0) > MAX_DEPTH:
            return None
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    return text


def _depth(value: Any, level: int) -> int:
    """How deep ``value`` nests (stops counting past ``MAX_DEPTH``)."""
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in list(value.values())), default=level + 1)
    if isinstance(value, (list, tuple)):
        return max((_depth(v, level + 1) for v in list(value)), default=level + 1)
    return level
