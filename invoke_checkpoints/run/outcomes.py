"""How a step's outcome is recorded: exit codes, error text, JSON-safe values, run metadata."""

from __future__ import annotations

import json
import re
import signal
import traceback
from typing import Any

from invoke.exceptions import Exit, UnexpectedExit

from .signals import Terminated, exit_code_for

__all__ = [
    "REDACTED",
    "error_text",
    "exit_code",
    "is_json",
    "jsonable",
    "one_line",
    "redact",
    "strict_message",
]


#: Names that look secret; their values are recorded as ``***``, never in clear.
_SECRET = re.compile(r"token|secret|passw(or)?d|key|credential|auth", re.IGNORECASE)
REDACTED = "***"


def redact(data: Any) -> Any:
    """``data`` with the value of every secret-looking key (at any depth) replaced by ``***``."""
    if isinstance(data, dict):
        return {k: (REDACTED if _SECRET.search(str(k)) else redact(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


#: Terminal escape sequences (CSI ... final byte, or ESC + one char) and other control chars.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b.?|[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """A plugin's text (a skip reason) made safe for a table: one line, no escape codes."""
    return " ".join(_CONTROL.sub(" ", text).split()) or "(no reason given)"


def strict_message(failure: str) -> str:
    return f"{failure} (checkpoints.strict_plugins is on, so the run stops)"


def is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def jsonable(data: dict[str, Any], warnings: list[str], what: str) -> dict[str, Any]:
    """``data`` as JSON values; anything else is saved as its repr, with a warning."""
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if is_json(value):
            clean[str(key)] = value
        else:
            clean[str(key)] = repr(value)
            note = f"{what}[{key!r}] is not JSON-serialisable; saved as its repr"
            if note not in warnings:
                warnings.append(note)
    return clean


def exit_code(error: BaseException, received: int | None) -> int:
    if isinstance(error, Terminated):
        return exit_code_for(error.signum)
    if isinstance(error, KeyboardInterrupt) or received is not None:
        return exit_code_for(received or signal.SIGINT)
    if isinstance(error, UnexpectedExit):
        return int(error.result.exited)
    if isinstance(error, Exit):
        return int(error.code)
    return 1


def error_text(error: BaseException) -> str:
    if isinstance(error, UnexpectedExit):
        result = error.result
        text = f"command {result.command!r} exited with code {result.exited}"
        tail = [line for line in (result.stderr or "").splitlines() if line.strip()][-20:]
        return text + ("\n" + "\n".join(tail) if tail else "")
    if isinstance(error, (KeyboardInterrupt, Terminated)):
        return "interrupted by a signal"
    if isinstance(error, Exit):
        return f"Exit({error.code}): {error.message or ''}".rstrip(": ")
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
