"""What steps of one invocation share, and what each step gets afresh.

Shared, as between the tasks of one ``invoke lint test``: the pre/post tasks already run
(:class:`CallLedger`, Invoke's ``tasks.dedupe``). Afresh, so that a resume (a new process)
behaves like the first run: the working directory and ``os.environ`` the workflow started with
(:class:`StartPoint`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from invoke import Call

__all__ = ["CallLedger", "StartPoint", "environ_snapshot"]


def environ_snapshot() -> dict[Any, Any]:
    """A copy of the process environment that is cheap to take and to compare (two per step).

    Going through ``os.environ``'s mapping decodes every key and value (about 40 µs for a
    usual environment); CPython keeps them encoded in ``os.environ._data``, which copies and
    compares at C speed. Anywhere that mapping is missing, a decoded copy does the same job.
    """
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


#: The ``finished`` of every call recorded as already run: one shared, set Event instead of
#: one per step (a 10,000-step run would otherwise hold 10,000 locks and conditions).
_ALREADY_RUN = threading.Event()
_ALREADY_RUN.set()


class _Entry:
    __slots__ = ("call", "finished", "ok")

    def __init__(self, call: Call, finished: threading.Event | None = None) -> None:
        self.call = call
        self.finished = finished or threading.Event()
        self.ok = finished is not None


class CallLedger:
    """The calls run in this invocation, compared as Invoke's ``Executor.dedupe`` does (same
    task, same args). Thread-safe: in a parallel group, a step whose pre task another step is
    running waits for it instead of running it twice."""

    def __init__(self) -> None:
        #: Entries by their task's name and body (hashable, and part of what Invoke compares),
        #: so that finding a call looks at its own task's calls only, not every call so far.
        self._entries: dict[tuple[str, object], list[_Entry]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _bucket_key(call: Call) -> tuple[str, object]:
        return (call.task.name, call.task.body)

    def _find(self, call: Call) -> _Entry | None:
        bucket = self._entries.get(self._bucket_key(call), ())
        return next((e for e in bucket if e.call == call), None)

    def _append(self, entry: _Entry) -> None:
        self._entries.setdefault(self._bucket_key(entry.call), []).append(entry)

    def claim(self, call: Call) -> bool:
        """``True``: the caller runs ``call`` and reports with :meth:`done`; ``False``: it
        already ran (successfully) in this invocation."""
        while True:
            with self._lock:
                entry = self._find(call)
                if entry is None:
                    self._append(_Entry(call))
                    return True
            entry.finished.wait()
            if entry.ok:
                return False
            with self._lock:
                # It failed in the step that ran it: this step runs it itself.
                bucket = self._entries.get(self._bucket_key(entry.call), [])
                if entry in bucket:
                    bucket.remove(entry)

    def done(self, call: Call, ok: bool) -> None:
        with self._lock:
            entry = self._find(call)
        if entry is not None:
            entry.ok = ok
            entry.finished.set()

    def add(self, call: Call) -> None:
        """Record ``call`` as run (a step's own task: a later pre task naming it is skipped)."""
        with self._lock:
            if self._find(call) is None:
                self._append(_Entry(call, _ALREADY_RUN))


class StartPoint:
    """The working directory and environment the workflow started with."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.environ = dict(os.environ)
        self._snapshot = environ_snapshot()

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        """Run the block, then put the working directory and ``os.environ`` back.

        ``os.chdir`` and ``os.environ`` are process-wide: for a parallel group this wraps the
        whole group, not each step (see README, "Parallel groups").
        """
        try:
            yield
        finally:
            self.restore()

    def restore(self) -> None:
        try:
            here: str | None = os.getcwd()
        except OSError:  # a step removed the directory it was in
            here = None
        if here != self.cwd:
            os.chdir(self.cwd)
        if environ_snapshot() == self._snapshot:
            return  # the usual case: the step left the environment alone
        current = os.environ
        for key in [k for k in current if k not in self.environ]:
            del current[key]
        for key, value in self.environ.items():
            if current.get(key) != value:
                current[key] = value
