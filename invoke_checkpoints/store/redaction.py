"""Secrets in free text (error text, a failing command's stderr tail) replaced by ``***``.

Shared by the writer (``run/outcomes.py``, before anything is stored) and the readers
(``store/status.py``, so a run recorded by an older version is not shown in clear either).
What is and is not redacted is listed in README.md, "Security".
"""

from __future__ import annotations

import re
from functools import cache

__all__ = ["REDACTED", "redact_text"]

REDACTED = "***"

# Names whose value is secret in a ``name=value`` / ``name: value`` / ``--name value`` pair.
# Narrower than the key-name rule for args: a bare "key" would eat `KeyError: 'x'` in tracebacks.
_NAME = (
    r"[\w.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credentials?|auth)[\w-]*"
)
_VALUE = r"(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s&;,'\"]+)"


@cache
def _rules() -> tuple[tuple[re.Pattern[str], str], ...]:
    """The patterns, compiled on first use: a successful run never redacts anything, and
    compiling them cost 2.4 ms of every run's start-up."""
    return (
        # Authorization: Bearer abc / Proxy-Authorization: Basic abc (the whole credential).
        (re.compile(r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*)[^\n'\"]+"), r"\1" + REDACTED),
        # A bare `Bearer abc` / `Basic abc` / `token abc` credential outside a header.
        (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{4,}"), r"\1\2" + REDACTED),
        # scheme://user:password@host
        (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), r"\1" + REDACTED + "@"),
        # --password=x, token=x, API_KEY: x, "secret": "x"
        (
            re.compile(rf"(?i)(?<![\w-])([\"']?{_NAME}[\"']?)(\s*[=:]\s*){_VALUE}"),
            r"\1\2" + REDACTED,
        ),
        # --password x / -p is not guessed: only long options with a secret-looking name.
        (re.compile(rf"(?i)(?<![\w-])(--{_NAME})(\s+)(?!-){_VALUE}"), r"\1\2" + REDACTED),
    )


def redact_text(text: str) -> str:
    """``text`` with credentials in headers, URLs and ``name=value`` pairs replaced."""
    for pattern, replacement in _rules():
        text = pattern.sub(replacement, text)
    return text
