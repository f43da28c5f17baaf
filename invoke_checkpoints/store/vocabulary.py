"""The words of the on-disk format that need no pydantic: status values, the timestamp form,
the format version, and parsing a document into a JSON object.

Shared by ``models.py`` (which owns the format, fields included), the records a run writes
(``records.py``) and the fast readers of ``status`` and ``list`` (``reading.py``,
``schema_check.py``), which use them without the models. No field list belongs here: the
readers take those from the models' JSON Schemas, and the records are checked against them.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from ..errors import CorruptCheckpointError, IncompatibleRunError

__all__ = [
    "FORMAT_VERSION",
    "TIMESTAMP_FORMAT",
    "RunStatus",
    "StepStatus",
    "check_version",
    "iso",
    "load_object",
    "now_precise",
    "utcnow",
    "who_runs",
]

#: Version of the on-disk format written by this release. Readers accept the same major version.
FORMAT_VERSION = "1.1.0"
_READABLE_MAJOR = 1
#: The spec's timestamps: ``2025-12-18T12:15:30Z`` (UTC, second precision).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class RunStatus(str, Enum):
    """Status of a whole run as stored in checkpoint.json."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


class StepStatus(str, Enum):
    """Status of one step as stored in its state file."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    SKIPPED = "skipped"


def utcnow() -> datetime:
    """Now, in UTC, at second precision like the spec's timestamps."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def now_precise() -> tuple[datetime, float]:
    """Now as ``(utcnow(), Unix time)``: the second-precision timestamp of the spec and the
    same instant with sub-second precision (format 1.1's ``started_at_epoch``)."""
    epoch = time.time()
    return datetime.fromtimestamp(int(epoch), timezone.utc), round(epoch, 6)


def iso(value: datetime) -> str:
    """``value`` as ``TIMESTAMP_FORMAT``, the year always in 4 digits (``%Y`` may not pad)."""
    v = value.astimezone(timezone.utc)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


def who_runs() -> tuple[str, str, int]:
    """This process's user, host and pid (the format's ``metadata``)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = str(os.getuid())
    return user, socket.gethostname(), os.getpid()


def load_object(data: bytes, source: str) -> dict[str, Any]:
    """``data`` parsed as a JSON object, or ``CorruptCheckpointError`` naming ``source``."""
    try:
        raw = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise CorruptCheckpointError(f"{source}: not valid JSON ({_short(exc)})") from None
    if not isinstance(raw, dict):
        raise CorruptCheckpointError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    return raw


def _no_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON (RFC 8259), and nothing this package writes holds
    them: a file with one was edited by hand, and is refused as such rather than read into a
    value that breaks ``status`` (``round(nan)``) or is written back as ``null``."""
    raise ValueError(f"{name} is not a JSON value")


def check_version(raw: dict[str, Any], source: str) -> None:
    """Refuse a checkpoint.json without a version, or of another major version."""
    version = raw.get("version")
    if not isinstance(version, str):
        raise CorruptCheckpointError(f"{source}: missing or invalid 'version'")
    major = version.split(".", 1)[0]
    if not major.isdigit():
        raise CorruptCheckpointError(f"{source}: invalid format version {version!r}")
    if int(major) != _READABLE_MAJOR:
        raise IncompatibleRunError(
            f"{source}: format version {version} is not readable by this invoke-checkpoints "
            f"(reads {_READABLE_MAJOR}.x); use a matching invoke-checkpoints release "
            "or start a new run"
        )


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 80 else text[:77] + "..."
