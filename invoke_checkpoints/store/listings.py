"""What a remote store's listings said, so that ``kind()`` and ``size()`` cost no request.

Object storage answers "is there a key here, how big" with a HEAD per key (and, for a prefix,
a LIST too), where a directory answers from one ``stat``. Reading a run of N steps asked it
about 5N times. A listing already says it for every key under one prefix: this cache keeps the
latest listing of each prefix (name -> kind, size, modification time) and brings it up to
date with this process's own writes and deletes.

What it may miss is another process's change made since the listing. That is safe where it is
used: a run's keys are written only by the holder of the workflow's lease (another writer is
fenced), and a read-only command (``status``, ``list``, ``report``) reads one snapshot, as a
local reader racing a writer would. A listing that overlapped a write of this process is not
kept (the write might be missing from it).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from .backend import Kind

__all__ = ["Entry", "Listings"]


class Entry(NamedTuple):
    kind: Kind
    size: int
    mtime: float | None


class Listings:
    """The latest listing of each prefix of one store (thread-safe)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._listed: dict[str, dict[str, Entry]] = {}
        #: Writes and deletes so far: a listing that overlapped one is not kept.
        self._changes = 0

    def generation(self) -> int:
        """Call before a listing request; pass the result to ``keep``."""
        with self._guard:
            return self._changes

    def keep(self, prefix: str, entries: dict[str, Entry], generation: int) -> None:
        """Remember the listing of ``prefix`` (taken when ``generation`` was current)."""
        with self._guard:
            if generation == self._changes:
                self._listed[prefix] = entries

    def lookup(self, key: str) -> Entry | Literal[False] | None:
        """The entry of ``key``; ``None`` when its prefix was listed without it; ``False``
        when its prefix was not listed (ask the store)."""
        parent, _, name = key.rpartition("/")
        with self._guard:
            listed = self._listed.get(parent)
            if listed is None:
                return False
            return listed.get(name)

    def wrote(self, key: str, size: int) -> None:
        """This process wrote ``key``: it is a file, and every prefix above it exists."""
        with self._guard:
            self._changes += 1
            child, kind = key, "file"
            entry = Entry("file", size, None)
            while True:
                parent, _, name = child.rpartition("/")
                listed = self._listed.get(parent)
                if listed is not None:
                    listed[name] = entry if kind == "file" else Entry("dir", 0, None)
                if not child or "/" not in child:
                    break
                child, kind = parent, "dir"

    def forget(self, key: str) -> None:
        """A write of ``key`` failed, and may have landed: forget the listing beside it."""
        with self._guard:
            self._changes += 1
            self._listed.pop(key.rpartition("/")[0], None)

    def removed(self, key: str) -> None:
        """This process deleted ``key``, or every key under the prefix ``key``."""
        with self._guard:
            self._changes += 1
            for prefix in [p for p in self._listed if p == key or p.startswith(key + "/")]:
                del self._listed[prefix]
            parent, _, name = key.rpartition("/")
            listed = self._listed.get(parent)
            if listed is not None:
                listed.pop(name, None)
                if listed:
                    return
            # The prefix above may have vanished with its last key: forget the listings of
            # every prefix above it.
            parts = parent.split("/") if parent else []
            for depth in range(len(parts)):
                self._listed.pop("/".join(parts[:depth]), None)
