"""Signals during a run: stop the step's child processes, record, exit 128+n.

SIGINT (Ctrl-C) gives 130; SIGTERM, SIGHUP (a closed terminal) and SIGQUIT are treated alike
(143, 129, 131). A step's ``c.run`` child leads its own process group, so stopping it stops a
compound command's own children too; on Linux it is also killed when this process dies
without running any handler (SIGKILL, the OOM killer).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import signal
import sys
import threading
import time
from subprocess import PIPE, Popen
from typing import TYPE_CHECKING, Any

from invoke.exceptions import SubprocessPipeError
from invoke.runners import Local

from ..store.processes import start_ticks
from .context import GRACE_SECONDS, HookInterrupted

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType

    from invoke.runners import Result

__all__ = [
    "STOP_SIGNALS",
    "CheckpointRunner",
    "SignalGuard",
    "Terminated",
    "exit_code_for",
    "watching_children",
]

#: The signals that stop a run: recorded ``interrupted``, children stopped, exit 128+n.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

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
    """Raised in the main thread when SIGTERM, SIGHUP or SIGQUIT arrives during a step."""

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
        if self.using_pty or self.opts.get("disown"):
            # pty.fork() already makes the child a session (and group) leader, and closing the
            # pty when this process dies hangs it up; a disowned child is meant to outlive us.
            super().start(command, shell, env)
        else:
            # Invoke's own Popen, plus: a session of its own, so the whole process group can
            # be signalled (a compound command's children too), and death with its parent.
            self.process = Popen(
                command,
                shell=True,
                executable=shell,
                env=env,
                stdout=PIPE,
                stderr=PIPE,
                stdin=PIPE,
                start_new_session=True,
                preexec_fn=_parent_death_signal(),  # noqa: PLW1509 -- only an async-signal-safe prctl
            )
        if not self.opts.get("disown"):
            watcher = _WATCH.get()
            if watcher is not None:
                pid = self.get_pid()
                watcher(pid, start_ticks(pid))
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

    def kill(self) -> None:
        # Invoke's timeout kills the shell only; its children would go on running.
        _signal_child(self, signal.SIGKILL)
        super().kill()

    def send_interrupt(self, interrupt: KeyboardInterrupt) -> None:
        # Without a pty, Invoke only writes ^C to the child's stdin, which most programs ignore.
        # Signal first: when our own stdin hit EOF (CI, cron, </dev/null) Invoke has already
        # closed the child's stdin and its write raises, which would leave the child running.
        if not self.using_pty:
            _signal_child(self, signal.SIGINT)
        with contextlib.suppress(ValueError, OSError, SubprocessPipeError):
            super().send_interrupt(interrupt)


def _signal_child(runner: Local, signum: int) -> None:
    """Signal the child's whole process group (it leads one), else the child alone."""
    try:
        pid = runner.get_pid()
    except (AttributeError, TypeError):
        return  # not started yet
    if not isinstance(pid, int) or pid <= 0:
        return
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)  # a custom start() that made no process group


# Called with (pid, start time) when a step's runner starts a child; see watching_children().
_WATCH: contextvars.ContextVar[Callable[[int, int | None], None] | None] = contextvars.ContextVar(
    "invoke_checkpoints_child_watch", default=None
)


@contextlib.contextmanager
def watching_children(callback: Callable[[int, int | None], None]) -> Iterator[None]:
    """In this thread, call ``callback(pid, start_ticks)`` for each child a runner starts."""
    token = _WATCH.set(callback)
    try:
        yield
    finally:
        _WATCH.reset(token)


_PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux send SIGKILL to the child when this thread dies.

    Only a shell's own process gets it: its children are found by the resume check through
    the process group (``store/processes.py``).
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = _libc_prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


_PRCTL: list[Callable[[int, int], int] | None] = []


def _libc_prctl() -> Callable[[int, int], int] | None:
    """libc's prctl, looked up once, in the parent (the child must not load libraries)."""
    if not _PRCTL:
        try:
            import ctypes

            prctl = ctypes.CDLL(None, use_errno=True).prctl
            prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
            prctl.restype = ctypes.c_int
            _PRCTL.append(prctl)
        except (OSError, AttributeError):
            _PRCTL.append(None)
    return _PRCTL[0]


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
    """Turns SIGINT, SIGTERM, SIGHUP and SIGQUIT into an orderly stop.

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
            for signum in STOP_SIGNALS:
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
        if signum != signal.SIGINT:
            # SIGHUP/SIGQUIT stop children as SIGTERM does: no core dumps, no nohup escape.
            stop_children(signal.SIGTERM)
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
