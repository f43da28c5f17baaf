"""Readable output from concurrent steps: every line carries the name of the step that wrote it."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["PrefixWriter", "ThreadRouter", "routed_output"]

# One lock for every writer, so whole lines from different steps never interleave.
_WRITE_LOCK = threading.Lock()


class PrefixWriter:
    """A text stream that writes whole lines to ``target``, each starting with ``prefix``."""

    def __init__(self, target: TextIO, prefix: str) -> None:
        self.target = target
        self.prefix = prefix
        self._partial = ""

    def write(self, text: str) -> int:
        data = self._partial + text
        lines = data.split("\n")
        self._partial = lines.pop()
        if lines:
            with _WRITE_LOCK:
                self.target.write("".join(f"{self.prefix}{line}\n" for line in lines))
                self.target.flush()
        return len(text)

    def flush(self) -> None:
        if self._partial:
            with _WRITE_LOCK:
                self.target.write(f"{self.prefix}{self._partial}\n")
                self.target.flush()
            self._partial = ""

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8") or "utf-8"


class ThreadRouter:
    """Stands in for ``sys.stdout``/``sys.stderr``: threads that registered a prefix get their
    lines prefixed, every other thread writes straight through."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._local = threading.local()

    @contextlib.contextmanager
    def prefixed(self, prefix: str) -> Iterator[PrefixWriter]:
        writer = PrefixWriter(self.target, prefix)
        self._local.writer = writer
        try:
            yield writer
        finally:
            writer.flush()
            self._local.writer = None

    @contextlib.contextmanager
    def plain(self) -> Iterator[None]:
        """Within a prefixed thread, write without the prefix (the reporter's own lines)."""
        saved = getattr(self._local, "writer", None)
        self._local.writer = None
        try:
            yield
        finally:
            self._local.writer = saved

    def write(self, text: str) -> int:
        writer = getattr(self._local, "writer", None)
        if writer is not None:
            return int(writer.write(text))
        with _WRITE_LOCK:
            return self.target.write(text)

    def flush(self) -> None:
        writer = getattr(self._local, "writer", None)
        if writer is None:
            self.target.flush()

    def isatty(self) -> bool:
        return bool(self.target.isatty())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


@contextlib.contextmanager
def routed_output() -> Iterator[tuple[ThreadRouter, ThreadRouter]]:
    """Install thread routers on ``sys.stdout`` and ``sys.stderr`` for a parallel group."""
    out, err = ThreadRouter(sys.stdout), ThreadRouter(sys.stderr)
    saved = sys.stdout, sys.stderr
    # Duck-typed TextIO stand-ins: they forward everything they do not override.
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved
