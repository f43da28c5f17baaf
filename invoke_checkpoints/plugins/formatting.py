"""Formatting shared by the console reporter, ``status`` and ``list``: durations, sizes, colour."""

from __future__ import annotations

import os
from typing import TextIO

__all__ = [
    "describe_exit",
    "format_clock",
    "format_duration",
    "human_size",
    "is_terminal",
    "paint",
    "plural",
    "use_color",
    "workflow_title",
]

_COLORS = {
    "completed": "32",
    "failed": "31",
    "corrupt": "31",
    "refused": "31",
    "interrupted": "33",
    "skipped": "36",
    "running": "34",
}


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (the live line is drawn only there, colour or not)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def use_color(stream: TextIO, *, terminal: bool | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org);
    ``terminal``: whether ``stream`` is one, when the caller knows."""
    if terminal is None:
        terminal = is_terminal(stream)
    return terminal and not os.environ.get("NO_COLOR")


def paint(text: str, status: str) -> str:
    """``text`` in the colour of ``status`` (the caller decides whether colour is on)."""
    code = _COLORS.get(status.strip())
    return f"\x1b[{code}m{text}\x1b[0m" if code else text


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def format_clock(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    total = round(seconds)
    hours, rem = divmod(total, 3600)
    minutes, secs = divmod(rem, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def plural(count: int, noun: str) -> str:
    """``1 step``, ``2 steps``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def workflow_title(name: str) -> str:
    """``workflow`` for the default name (never "workflow workflow"), else ``workflow NAME``."""
    return "workflow" if name == "workflow" else f"workflow {name}"


def describe_exit(code: int | None) -> str:
    """``exit 3``; a child killed by a signal (a negative code) is ``killed by SIGINT``."""
    if code is None:
        return ""
    if code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"
