"""Step output: prefixed per line for concurrent steps, held back for ``--quiet``.

Concurrent steps: every line carries the name of the step that wrote it; a partial line waits
in its step's buffer until its newline (pytest's dots stay on one line); a ``\r`` progress line
keeps only its last state, so the prefix is never overwritten.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["PrefixWriter", "Recording", "ThreadRouter", "held_output", "routed_output"]

# One lock for every writer, so whole lines from different steps never interleave.
_WRITE_LOCK = threading.Lock()


class PrefixWriter:
    """A text stream that writes whole lines to ``target``, each starting with ``prefix``."""

    def __init__(self, target: TextIO | Recording, prefix: str) -> None:
        self.target = target
        self.prefix = prefix
        self._partial = ""

    def write(self, text: str) -> int:
        data = (self._partial + text).replace("\r\n", "\n")
        lines = data.split("\n")
        self._partial = lines.pop()
        if lines:
            with _WRITE_LOCK:
                self.target.write("".join(f"{self.prefix}{_last(line)}\n" for line in lines))
                self.target.flush()
        return len(text)

    def flush(self) -> None:
        if self._partial:
            with _WRITE_LOCK:
                self.target.write(f"{self.prefix}{_last(self._partial)}\n")
                self.target.flush()
            self._partial = ""

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8") or "utf-8"


def _last(line: str) -> str:
    """What a terminal would show of ``line``: the text after its last ``\r`` (a progress bar's
    final state), or the last non-empty part when it ends with ``\r``."""
    if "\r" not in line:
        return line
    parts = [part for part in line.split("\r") if part]
    return parts[-1] if parts else ""


class Recording:
    """A text stream that keeps what is written to it, in order, to replay it later."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.chunks: list[str] = []

    def write(self, text: str) -> int:
        with _WRITE_LOCK:
            self.chunks.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self.target, "encoding", "utf-8") or "utf-8"

    def replay(self) -> None:
        with _WRITE_LOCK:
            chunks, self.chunks = self.chunks, []
        if chunks:
            self.target.write("".join(chunks))
            self.target.flush()


@contextlib.contextmanager
def held_output(hold: bool) -> Iterator[None]:
    """``--quiet``: hold the step's output (``print``, ``c.run``) back; show it only if the
    step fails. Output written straight to file descriptor 1/2 (a subprocess not started
    through ``c.run``) is not held."""
    if not hold:
        yield
        return
    out, err = Recording(sys.stdout), Recording(sys.stderr)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        yield
    except BaseException:
        sys.stdout, sys.stderr = saved
        out.replay()
        err.replay()
        raise
    finally:
        sys.stdout, sys.stderr = saved


class ThreadRouter:
    """Stands in for ``sys.stdout``/``sys.stderr``: threads that registered a prefix get their
    lines prefixed, every other thread writes straight through."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._local = threading.local()

    @contextlib.contextmanager
    def prefixed(
        self, prefix: str, target: TextIO | Recording | None = None
    ) -> Iterator[PrefixWriter]:
        writer = PrefixWriter(target or self.target, prefix)
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
