"""Hook calls from worker threads, run by the main thread: no plugin is called concurrently,
and a signal (delivered to the main thread) can abandon a slow hook."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import queue
    from collections.abc import Callable, Iterator

__all__ = ["MainThreadCalls"]

_POLL_SECONDS = 0.05


class _Call:
    """A hook call a worker thread hands to the main thread."""

    __slots__ = ("_claimed", "call", "done", "result")

    def __init__(self, call: Callable[[], Any]) -> None:
        self.call = call
        self.done = threading.Event()
        self.result: Any = None
        self._claimed = threading.Lock()

    def claim(self) -> bool:
        """True for the one thread that gets to run it."""
        return self._claimed.acquire(blocking=False)

    def run(self, locked: Callable[[Callable[[], Any]], Any]) -> None:
        try:
            self.result = locked(self.call)
        finally:
            self.done.set()  # a signal raising here still releases the waiting worker


class MainThreadCalls:
    """Runs calls under one lock; while the main thread serves, other threads' calls run there."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        #: Made when the main thread first serves (a parallel group): the ``queue`` module
        #: is not imported by a run without one.
        self._inbox: queue.SimpleQueue[_Call] | None = None
        self._serving = False

    def _mailbox(self) -> queue.SimpleQueue[_Call]:
        if self._inbox is None:
            import queue

            self._inbox = queue.SimpleQueue()
        return self._inbox

    def locked(self, call: Callable[[], Any]) -> Any:
        with self._lock:
            return call()

    def __call__(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` under the lock, in the main thread while it :meth:`serve`\\ s."""
        if not self._serving or threading.current_thread() is threading.main_thread():
            return self.locked(call)
        item = _Call(call)
        self._mailbox().put(item)  # made before _serving was set
        while not item.done.wait(_POLL_SECONDS):
            if self.stopped() and item.claim():
                return self.locked(call)  # the main thread stopped serving: call it here
        return item.result

    def stopped(self) -> bool:
        """The main thread does not serve (any more)."""
        return not self._serving

    @contextlib.contextmanager
    def serving(self) -> Iterator[None]:
        """While the block runs, calls from other threads wait for :meth:`serve`."""
        self._mailbox()
        self._serving = True
        try:
            yield
        finally:
            self._serving = False
            self.serve(0)

    def serve(self, timeout: float) -> None:
        """In the main thread: run the calls other threads hand over, for up to ``timeout`` s."""
        from queue import Empty

        inbox = self._mailbox()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                item = inbox.get(timeout=left) if left > 0 else inbox.get_nowait()
            except Empty:
                return
            if item.claim():
                item.run(self.locked)
            if time.monotonic() >= deadline:
                return
