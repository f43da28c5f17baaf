"""Is a step's child process (group) from a killed invocation still alive?

A step records the pid of its current ``c.run`` child, which leads its own process group, and
the child's start time (``/proc/<pid>/stat`` field 22), so a reused pid is not mistaken for it.
Linux keeps a process group's id allocated while any member lives, so a live group with that
id is the step's own (its shell's orphaned children of a compound command included). Zombies
(dead, not yet reaped by an init that is slow to reap) do not count.
"""

from __future__ import annotations

import contextlib
import os
import time

__all__ = ["group_alive", "start_ticks"]

_PROC = "/proc"


def _stat(pid: int | str) -> list[bytes] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (``[0]`` is field 3, the state), or ``None``."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read(4096)
    except OSError:
        return None
    # Field 2 (comm) is in parentheses and may contain spaces or ')': split after the last ')'.
    return data[data.rfind(b")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot; ``None`` if unknown or gone."""
    fields = _stat(pid)
    with contextlib.suppress(TypeError, IndexError, ValueError):
        return int(fields[19])  # type: ignore[index]  # field 22
    return None


def _living(fields: list[bytes] | None) -> bool:
    return bool(fields) and fields[0] not in (b"Z", b"X")  # type: ignore[index]


def group_alive(pid: int, started: int | None, *, grace: float = 0.0) -> bool:
    """Whether the process ``pid`` that started at ``started``, or a member of its process
    group, still lives; with ``grace``, still lives after up to that many seconds (the
    parent-death signal is delivered a moment after the parent died)."""
    deadline = time.monotonic() + grace
    while _group_alive(pid, started):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.02)
    return False


def _group_alive(pid: int, started: int | None) -> bool:
    if pid <= 1:
        return False
    if not os.path.isdir(_PROC):
        return _signalable(pid)
    leader = _stat(pid)
    if leader is not None and (started is None or _field(leader, 19) == started):
        return _living(leader) or _members(pid)
    if leader is not None:
        # The number now belongs to a new process: Linux frees a pid only once no process
        # group uses it, so the recorded group has ended.
        return False
    return _members(pid)


def _signalable(pgid: int) -> bool:
    """Without /proc: whether process group ``pgid`` has a member (zombies included)."""
    try:
        os.killpg(pgid, 0)
    except PermissionError:
        return True  # a member runs as another user (sudo): still alive
    except OSError:
        return False
    return True


def _field(fields: list[bytes], index: int) -> int | None:
    with contextlib.suppress(IndexError, ValueError):
        return int(fields[index])
    return None


def _members(pgid: int) -> bool:
    """Whether a living process has process group ``pgid`` (field 5)."""
    try:
        names = os.listdir(_PROC)
    except OSError:
        return False
    for name in names:
        if name.isdigit():
            fields = _stat(name)
            if fields is not None and _field(fields, 2) == pgid and _living(fields):
                return True
    return False
