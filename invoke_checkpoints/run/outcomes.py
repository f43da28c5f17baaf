"""How a step's outcome is recorded: exit codes, error text, JSON-safe values, run metadata."""

from __future__ import annotations

import json
import re
import signal
import time
import traceback
from typing import Any

from invoke.exceptions import Exit, UnexpectedExit

from ..errors import USAGE_EXIT_CODE, CheckpointError
from ..store.redaction import redact_text
from .jsonsafe import MAX_DEPTH, clean_text, encode
from .signals import Terminated, exit_code_for

__all__ = [
    "MAX_DEPTH",
    "REDACTED",
    "clean_text",
    "error_text",
    "exit_code",
    "is_json",
    "json_shaped",
    "jsonable",
    "one_line",
    "redact",
    "safe_repr",
    "strict_message",
    "system_exit_code",
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


def safe_repr(value: Any) -> str:
    """``repr(value)`` as valid UTF-8, or a placeholder when repr raises (or recurses forever,
    or the value is an integer too long for ``str``)."""
    try:
        return clean_text(repr(value))
    except Exception:
        return f"<unrepresentable {type(value).__name__} object>"


def _key(key: Any) -> str:
    try:
        return str(key)
    except Exception:
        return safe_repr(key)


def is_json(value: Any) -> bool:
    """Whether ``value`` is JSON that can be written as it is (and read back)."""
    return encode(value) is not None


def jsonable(data: object, warnings: list[str], what: str) -> dict[str, Any]:
    """``data`` as JSON values that can always be written; anything else is saved as its repr,
    with a warning. The result shares nothing with ``data`` (a deep copy): another thread may
    go on changing ``data`` while the result is written.

    Copying a dict, or encoding the lists and dicts inside it, while a step's thread changes
    them can raise ``RuntimeError`` (changed during iteration): taken again until it holds still.
    """
    if type(data) is dict and not data:
        return {}  # most steps' args and outputs: nothing to encode
    if not isinstance(data, dict):  # `current_step().outputs = [1]` (typed a dict): kept, named
        note = f"{what} is a {type(data).__name__}, not a dict: saved as {{{what!r}: ...}}"
        if note not in warnings:
            warnings.append(note)
        data = {what: data}
    for _ in range(_SNAPSHOT_TRIES - 1):
        try:
            return _jsonable(data, warnings, what)
        except RuntimeError:
            time.sleep(0)  # let the writing thread finish its change
    return _jsonable(data, warnings, what)


#: How often a changing ``vars`` is copied again before the error is let through.
_SNAPSHOT_TRIES = 1000


#: The most a step's ``outputs``, or the run's ``vars``, may take once encoded. Readers refuse
#: a state file or checkpoint.json over 64 MiB, so what would not fit is never written.
MAX_SAVED = 16 * 1024 * 1024


def bounded(data: dict[str, Any], warnings: list[str], what: str) -> dict[str, Any]:
    """``data`` (already JSON-safe) within ``MAX_SAVED``: the largest values are replaced by a
    note, with a warning each, until it fits. The step that produced them stays succeeded."""
    sizes = {key: len(json.dumps(value)) for key, value in data.items()}
    total = sum(sizes.values())
    if total <= MAX_SAVED:
        return data
    kept = dict(data)
    for key in sorted(sizes, key=sizes.__getitem__, reverse=True):
        if total <= MAX_SAVED:
            break
        kept[key] = f"<not saved: {sizes[key]} bytes of JSON, over the {MAX_SAVED} limit>"
        total -= sizes[key]
        warnings.append(
            f"{what}[{key!r}] is {sizes[key]} bytes of JSON, more than a checkpoint keeps "
            f"({MAX_SAVED}); saved as a note instead"
        )
    return kept


def _jsonable(data: dict[str, Any], warnings: list[str], what: str) -> dict[str, Any]:
    items = list(data.items())
    if all(type(key) is str for key, _ in items):
        encoded = encode(dict(items))  # the usual case: everything is plain JSON, in one go
        if encoded is not None:
            copy: dict[str, Any] = json.loads(encoded)
            return copy
    clean: dict[str, Any] = {}
    for key, value in items:
        name = clean_text(_key(key))
        encoded = encode(value)
        if encoded is not None:
            clean[name] = json.loads(encoded)
        else:
            clean[name] = safe_repr(value)
            note = f"{what}[{safe_repr(key)}] is not JSON that can be saved; saved as its repr"
            if note not in warnings:
                warnings.append(note)
    return clean


def json_shaped(value: Any) -> bool:
    """A return value meant as data (saved as ``outputs["result"]``), not an arbitrary object
    such as an Invoke ``Result`` (those are not saved, as before)."""
    return isinstance(value, (dict, list, tuple, str, int, float))


def exit_code(error: BaseException, received: int | None) -> int:
    if isinstance(error, Terminated):
        return exit_code_for(error.signum)
    if isinstance(error, KeyboardInterrupt) or received is not None:
        return exit_code_for(received or signal.SIGINT)
    if isinstance(error, UnexpectedExit):
        return int(error.result.exited)
    if isinstance(error, Exit):
        return int(error.code)
    if isinstance(error, SystemExit):
        return system_exit_code(error)
    # A CheckpointError in a step (outputs_of("typo")): invoke leaves with 2, the record agrees.
    return USAGE_EXIT_CODE if isinstance(error, CheckpointError) else 1


def system_exit_code(error: SystemExit) -> int:
    """The status Python itself would exit with for ``sys.exit(code)``."""
    code = error.code
    if code is None:
        return 0
    if isinstance(code, int) and 0 <= code <= 255:
        return code
    # sys.exit("message") exits 1 after printing the message; an int outside 0..255 would wrap
    # around (256 -> 0) and read as success: a failure it is.
    return 1


def error_text(error: BaseException) -> str:
    """The error as stored in ``errors`` and shown by ``status``: secrets redacted
    (``store/redaction.py``), valid UTF-8."""
    return clean_text(redact_text(_error_text(error)))


def _error_text(error: BaseException) -> str:
    if isinstance(error, UnexpectedExit):
        result = error.result
        text = f"command {result.command!r} exited with code {result.exited}"
        tail = [line for line in (result.stderr or "").splitlines() if line.strip()][-20:]
        return text + ("\n" + "\n".join(tail) if tail else "")
    if isinstance(error, (KeyboardInterrupt, Terminated)):
        return "interrupted by a signal"
    if isinstance(error, Exit):
        return f"Exit({error.code}): {error.message or ''}".rstrip(": ")
    if isinstance(error, SystemExit):
        return f"sys.exit({safe_repr(error.code)})"
    try:
        return "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
    except Exception:
        return f"{type(error).__name__}: {safe_repr(error)}"
