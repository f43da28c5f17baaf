"""Ctrl-C and SIGTERM during a run: stop the step's child processes, record, exit 130 / 143."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

from invoke.exceptions import SubprocessPipeError
from invoke.runners import Local

from .context import GRACE_SECONDS, HookInterrupted

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

    from invoke.runners import Result

__all__ = ["CheckpointRunner", "SignalGuard", "Terminated", "exit_code_for"]

# Runners with a live child process; a signal handler stops them. Reentrant: the handler runs
# in the main thread, possibly while that thread holds the lock in start() or stop().
_ACTIVE: set[Local] = set()
_ACTIVE_LOCK = threading.RLock()
# The signal stop_children() sent, until the next run starts (SignalGuard). A worker thread can
# be descheduled between starting its child and registering its runner; such a runner finds
# this under the same lock and stops its child itself, so no child outlives the stop.
_STOPPING: list[int] = []


def exit_code_for(signum: int) -> int:
    """The shell convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + signum


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives during a step."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = signum


class CheckpointRunner(Local):
    """Invoke's ``Local`` runner, plus: its child can be stopped when the workflow is signalled.

    Installed through Invoke's ``runners.local`` config key, and only when that key still holds
    Invoke's own ``Local`` (a user's custom runner is left alone).
    """

    def run(self, command: str, **kwargs: Any) -> Result:
        try:
            return super().run(command, **kwargs)
        except (KeyboardInterrupt, Terminated) as exc:
            # Raised before Invoke's wait loop (which forwards ^C to the child) was reached, e.g.
            # while it started its output threads: the child would be left running.
            _signal_child(self, exc.signum if isinstance(exc, Terminated) else signal.SIGINT)
            raise

    def start(self, command: str, shell: str, env: dict[str, Any]) -> None:
        super().start(command, shell, env)
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)
            stopping = list(_STOPPING)
        for signum in stopping:
            _signal_child(self, signum)

    def stop(self) -> None:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)
        super().stop()
        # Invoke's Local leaves the child's pipes to the garbage collector (ResourceWarning).
        process = getattr(self, "process", None)
        if process is not None:
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def send_interrupt(self, interrupt: KeyboardInterrupt) -> None:
        # Without a pty, Invoke only writes ^C to the child's stdin, which most programs ignore.
        # Signal first: when our own stdin hit EOF (CI, cron, </dev/null) Invoke has already
        # closed the child's stdin and its write raises, which would leave the child running.
        if not self.using_pty:
            _signal_child(self, signal.SIGINT)
        with contextlib.suppress(ValueError, OSError, SubprocessPipeError):
            super().send_interrupt(interrupt)


def _signal_child(runner: Local, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, AttributeError, TypeError):
        os.kill(runner.get_pid(), signum)


def stop_children(signum: int) -> None:
    """Signal every running child, and every child a runner starts from now on in this run."""
    with _ACTIVE_LOCK:
        _STOPPING[:] = [signum]
        runners = list(_ACTIVE)
    for runner in runners:
        _signal_child(runner, signum)


def _reset_stop() -> None:
    with _ACTIVE_LOCK:
        _STOPPING.clear()


class SignalGuard:
    """Turns SIGINT/SIGTERM into an orderly stop.

    Inside a step the signal interrupts the step at once (``KeyboardInterrupt`` or
    :class:`Terminated`); between steps it is only recorded, so a checkpoint write is never
    cut in half, and :meth:`check` raises at the next safe point. A plugin hook running in the
    main thread (:meth:`hook`) gets ``GRACE_SECONDS``; then ``HookInterrupted`` is raised in
    it (SIGALRM), and hooks called after that are abandoned before they start.
    """

    def __init__(self) -> None:
        #: The first signal received, if any.
        self.received: int | None = None
        self._in_step = False
        self._hooks = 0
        self._grace_end = 0.0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        _reset_stop()  # a new run (in-process tests run several in one process)
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
            self._previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._alarm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
            self._grace_end = time.monotonic() + GRACE_SECONDS
        if signum == signal.SIGTERM:
            stop_children(signum)
        if self._hooks:
            # A plugin hook runs: give it what is left of the grace period, then abandon it.
            signal.setitimer(signal.ITIMER_REAL, max(self._grace_end - time.monotonic(), 1e-3))
            return
        if self._in_step:
            if signum == signal.SIGINT:
                # Invoke's runner reacts to KeyboardInterrupt by forwarding it to the child.
                raise KeyboardInterrupt
            raise Terminated(signum)

    def _alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._hooks and self.received is not None:
            raise HookInterrupted(self.received)

    @contextlib.contextmanager
    def hook(self) -> Iterator[None]:
        """Where a plugin hook runs: after a signal it may take what is left of the grace
        period (in the main thread; elsewhere it cannot be interrupted)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        if self.received is not None:
            left = self._grace_end - time.monotonic()
            if left <= 0:
                raise HookInterrupted(self.received)
            if not self._hooks:
                signal.setitimer(signal.ITIMER_REAL, left)
        self._hooks += 1
        try:
            yield
        finally:
            self._hooks -= 1
            if not self._hooks and self.received is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Mark the region where a signal may interrupt immediately."""
        self.check()
        self._in_step = True
        try:
            yield
        finally:
            self._in_step = False

    def check(self) -> None:
        """Raise for a signal that arrived while a checkpoint was being written."""
        if self.received == signal.SIGINT:
            raise KeyboardInterrupt
        if self.received is not None:
            raise Terminated(self.received)
