"""The workflow lock of a remote store: a lease with fencing, without a lock server.

``<workflow>.lock`` is a JSON object in the bucket:

* **acquire**: a create-only write (``If-None-Match: *``); a lock whose body says
  ``released`` is taken by a write conditional on its ETag (``If-Match``);
* **renew**: a background thread rewrites it every third of the lease, conditional on the ETag
  it last wrote (the body changes every time: its ETag is its MD5);
* **take over**: only after its ETag stayed unchanged for the whole lease, measured on the
  taker's own monotonic clock (no clocks are compared between machines), then by a write
  conditional on that ETag: of two takers, one wins;
* **release**: a write of a ``released`` body conditional on the ETag last written.

A holder whose renewal fails (it was paused, or partitioned, past its lease and another machine
took over) is fenced: every later write of the store fails with :class:`LeaseLostError` (one
line, exit 2) before it is sent; the conditional writes of markers and checkpoint.json
(``s3.py``) catch a write already under way.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import LeaseLostError, LockHeldError, RemoteStoreError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["CleanGuard", "LeaseLock", "ObjectStore", "probe"]


class ObjectStore(Protocol):
    """What the lease needs from its store (``s3.py``'s ``S3Backend``)."""

    location: str
    lease_seconds: float
    #: The lease this process holds in the store: every write of the store checks it first.
    lease: LeaseLock | None

    def where(self, key: str) -> Path: ...
    def get(self, key: str) -> tuple[bytes, str | None]: ...
    def put(self, key: str, data: bytes, mode: Any = "overwrite") -> str | None: ...
    def remove(self, key: str) -> None: ...


class LeaseLock:
    """The lease on ``<workflow>.lock`` in an S3 store (the interface of ``WorkflowLock``)."""

    def __init__(self, backend: ObjectStore, name: str, workflow: str) -> None:
        self.backend = backend
        self.key = name
        self.workflow = workflow
        self.path = backend.where(name)
        self.ttl = backend.lease_seconds
        self._token = uuid.uuid4().hex
        self._run_id: str | None = None
        self._renewals = 0
        self._etag: str | None = None
        self._renewed_at = 0.0
        self._lost = False
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the lock document ---------------------------------------------------------------

    def _body(self, *, released: bool = False) -> bytes:
        self._renewals += 1
        doc = {
            "run_id": self._run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "lease_seconds": self.ttl,
            "released": released,
            "token": self._token,
            "renewal": self._renewals,  # a new body, hence a new ETag, at every renewal
        }
        return json.dumps(doc).encode()

    def _read(self) -> tuple[dict[str, Any], str | None] | None:
        """The lock's document and ETag; ``None`` when there is no lock object."""
        try:
            data, etag = self.backend.get(self.key)
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(data)
        except ValueError:
            doc = {}
        return (doc if isinstance(doc, dict) else {}), etag

    def holder(self) -> dict[str, Any]:
        found = self._read()
        return found[0] if found and not found[0].get("released") else {}

    def is_held(self) -> bool:
        """A lock object exists and was not released (a dead holder's counts until its lease
        is taken over or ``unlock --force`` removes it)."""
        found = self._read()
        return found is not None and not found[0].get("released")

    # -- acquire -------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take a free or released lock at once; ``False`` when someone holds it."""
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        for _ in range(2):  # a second go when the lock vanished between the two requests
            started = time.monotonic()
            try:
                self._held(self.backend.put(self.key, self._body(), "create"), started)
                return True
            except (AlreadyExistsError, PreconditionError):
                pass
            found = self._read()
            if found is None:
                continue
            doc, etag = found
            if not doc.get("released"):
                return False
            return self._take(etag)
        return False

    def _take(self, etag: str | None) -> bool:
        """Replace the lock whose ETag is ``etag``; ``False`` when it changed meanwhile."""
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        started = time.monotonic()
        try:
            new = self.backend.put(self.key, self._body(), {"e_tag": etag} if etag else "create")
        except (AlreadyExistsError, PreconditionError, FileNotFoundError):
            return False
        self._held(new, started)
        return True

    def _held(self, etag: str | None, started: float) -> None:
        self._etag, self._renewed_at, self._lost = etag, started, False
        self.backend.lease = self

    def acquire(self, *, doing: str | None = None) -> None:
        """Take the lock: at once when free or released; after the holder's lease lapsed
        (its ETag unchanged for a whole lease on this machine's clock); else fail in one line.
        ``doing`` (``"repair"``): a command other than a run, refused at once while held."""
        probe(self.backend)
        if not self.try_acquire():
            if doing is not None:
                raise self._held_error(self.holder(), doing)
            self._wait_for_lapse()
        self._thread = threading.Thread(
            target=self._renew_loop, name=f"lease {self.key}", daemon=True
        )
        self._thread.start()

    def _wait_for_lapse(self) -> None:
        found = self._read()
        if found is None:
            if self.try_acquire():
                return
            raise self._held_error({})
        doc, etag = found
        lease = max(self.ttl, _seconds(doc.get("lease_seconds")))
        print(
            f"invoke-checkpoints: workflow {self.workflow!r} is locked by {_who(doc)}; taking "
            f"over if its lease lapses (no renewal for {lease:g} s)",
            file=sys.stderr,
            flush=True,
        )
        start = time.monotonic()
        while (remaining := start + lease - time.monotonic()) > 0:
            time.sleep(min(remaining, max(lease / 20, 0.05), 1.0))
            now = self._read()
            if now is None or now[1] != etag:
                # Renewed (its holder is alive) or released/removed meanwhile.
                if (now is None or now[0].get("released")) and self.try_acquire():
                    return
                raise self._held_error(now[0] if now else doc)
        if not self._take(etag):
            raise self._held_error(doc)
        print(
            f"invoke-checkpoints: took over the lock of workflow {self.workflow!r} from "
            f"{_who(doc)}: its lease lapsed",
            file=sys.stderr,
            flush=True,
        )

    def _held_error(self, doc: dict[str, Any], doing: str | None = None) -> LockHeldError:
        return LockHeldError(
            (f"cannot {doing} now: " if doing else "")
            + f"workflow {self.workflow!r} is already running: {_who(doc)}, renewing its lease "
            f"on {self.backend.location}; wait for it to finish or stop that process "
            f"(`invoke {self.workflow}.unlock` once it is known dead)",
            run_id=str(doc["run_id"]) if doc.get("run_id") else None,
            path=self.path,
        )

    # -- hold ----------------------------------------------------------------------------

    def record(self, run_id: str | None) -> None:
        """Name the run in the lock (a renewal: fails when the lease was lost)."""
        self._run_id = run_id
        self._renew()

    def _renew(self) -> None:
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        with self._guard:
            if self._lost:
                raise self._lost_error()
            started = time.monotonic()
            try:
                self._etag = self.backend.put(self.key, self._body(), {"e_tag": self._etag})
            except (AlreadyExistsError, PreconditionError, FileNotFoundError):
                self._lost = True
                raise self._lost_error() from None
            self._renewed_at = started

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._renew()
            except LeaseLostError:
                return
            except RemoteStoreError:
                continue  # transient: the next write re-checks the lease's age

    def check(self) -> None:
        """Before every write: the lease is still ours (renewed now if it is getting old)."""
        if self._lost:
            raise self._lost_error()
        if time.monotonic() - self._renewed_at > self.ttl / 2:
            self._renew()

    def _lost_error(self) -> LeaseLostError:
        return LeaseLostError(
            f"{self.path}: this process lost the lease of workflow {self.workflow!r} (it was "
            f"not renewed within {self.ttl:g} s and another process took over); stopping "
            "without writing anything more",
            run_id=self._run_id,
            path=self.path,
        )

    # -- release -------------------------------------------------------------------------

    def release(self) -> None:
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.ttl)
            self._thread = None
        if self.backend.lease is self:
            self.backend.lease = None
        with self._guard:
            if self._lost or self._etag is None:
                return
            # A conditional write: a lock taken over meanwhile is left to its new holder.
            gone = (AlreadyExistsError, PreconditionError, FileNotFoundError, RemoteStoreError)
            with contextlib.suppress(*gone):
                self.backend.put(self.key, self._body(released=True), {"e_tag": self._etag})
            self._etag = None

    def unlock(self, *, force: bool) -> str:
        """``<workflow>.unlock``: release a lock whose holder is dead; what was done."""
        found = self._read()
        if found is None or found[0].get("released"):
            return f"workflow {self.workflow!r} is not locked ({self.path})"
        doc = found[0]
        if force:
            self.backend.remove(self.key)
            return f"removed the lock of workflow {self.workflow!r} held by {_who(doc)}"
        self._wait_for_lapse()
        self._stop.set()
        self.release()
        return f"released the lock of workflow {self.workflow!r}: {_who(doc)} had stopped renewing"


def probe(backend: ObjectStore) -> None:
    """Refuse an endpoint that ignores conditional writes: the fencing depends on them. A
    create-only write of a new key, twice: the second must fail."""
    from obstore.exceptions import AlreadyExistsError, PreconditionError

    key = f".probe-{os.getpid()}-{time.monotonic_ns()}"
    backend.put(key, b"probe\n", "create")
    try:
        backend.put(key, b"probe\n", "create")
    except (AlreadyExistsError, PreconditionError):
        return
    finally:
        with contextlib.suppress(RemoteStoreError):  # a stray probe key harms nothing
            backend.remove(key)
    raise RemoteStoreError(
        f"{backend.location}: the endpoint ignores conditional writes (a create-only write "
        "succeeded twice); runs cannot be fenced there: use another endpoint or a local store"
    )


def _who(doc: dict[str, Any]) -> str:
    run = doc.get("run_id") or "a run starting up"
    return f"{run} (pid {doc.get('pid', '?')} on {doc.get('host', '?')})"


def _seconds(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


class CleanGuard:
    """``clean``'s runs guard in a bucket: the workflow's lease itself, held while runs are
    chosen and deleted, so that no invocation chooses, creates or resumes a run meanwhile
    (object storage has no flock for a guard of its own). Refused, in one line, while a run
    holds the lease."""

    def __init__(self, lock: LeaseLock) -> None:
        self.lock = lock

    def __enter__(self) -> CleanGuard:
        self.lock.acquire(doing="clean")
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
