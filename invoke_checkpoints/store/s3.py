"""The store in S3-compatible object storage: ``checkpoints.dir: s3://bucket/prefix``.

Same keys as the local store (``<run>/checkpoint.json``, ``<run>/step_NN.complete``,
``<run>/state/step_NN_state.json``) under the prefix. Writes are single PUTs (atomic: readers
see the old or the new object); fencing makes a holder that lost its lease fail instead of
overwriting the new holder's files:

* markers are create-only (``If-None-Match: *``);
* ``checkpoint.json`` is written conditional on the ETag this process last read or wrote
  (``If-Match``), or create-only when it has seen none;
* every write first checks the workflow's lease (``lease.py``) is still this process's.

obstore (the ``[s3]`` extra) is imported when an S3 store is first used, never by the local
store. Transient errors (timeouts, 5xx, 409 conflicts) are retried with backoff; what is left
reaches the user as one line naming the bucket and key.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
from pathlib import PosixPath
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ..errors import CheckpointError, CorruptCheckpointError, LeaseLostError, RemoteStoreError
from .listings import Entry, Listings
from .safefs import MAX_FILE

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager

    from obstore.store import S3Store

    from .backend import Kind
    from .lease import LeaseLock

__all__ = ["RemotePath", "S3Backend", "is_remote"]

_T = TypeVar("_T")
SCHEME = "s3://"
#: Our own retries on top of obstore's (which retries 5xx and connection errors itself):
#: 409 conflicts, and any transient error obstore gave up on.
_ATTEMPTS = 4
_BACKOFF = 0.2


def _parse_fault(spec: str) -> tuple[int, str] | None:
    stage, _, rest = spec.partition(":")
    nth, _, suffix = rest.partition(":")
    return (int(nth), suffix) if stage == "put" and nth.isdigit() else None


#: Test-only fault injection for the crash matrix against a bucket (tests/reliability): with
#: INVOKE_CHECKPOINTS_FAULT=put:<n>[:<suffix>], the process SIGKILLs itself right after the
#: n-th write (PUT) that succeeded, counting only keys ending with <suffix> when given.
_FAULT = _parse_fault(os.environ.get("INVOKE_CHECKPOINTS_FAULT", ""))
_PUTS = itertools.count(1)


def _crash_point(key: str) -> None:
    assert _FAULT is not None
    nth, suffix = _FAULT
    if key.endswith(suffix) and next(_PUTS) == nth:
        os.kill(os.getpid(), signal.SIGKILL)


def is_remote(location: str) -> bool:
    """True for a ``checkpoints.dir`` naming an object store (``s3://bucket/prefix``)."""
    return location.startswith(SCHEME)


class RemotePath(PosixPath):
    """A key of a remote store, shown as its URL: ``str()`` gives ``s3://bucket/prefix/key``.

    ``RunInfo.path`` and error messages of an S3 store are these. There is no local file:
    ``/``, ``.name`` and ``.parent`` work, while a file-system call (``exists()``,
    ``open()``...) raises ``TypeError`` instead of touching a local ``s3:`` directory.
    """

    def __str__(self) -> str:
        return SCHEME + super().__str__()

    def __fspath__(self) -> str:
        raise TypeError(f"{self} is in object storage: it has no local path")

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"


class S3Backend:
    """The :class:`~.backend.Backend` of an S3 bucket (or any S3-compatible endpoint)."""

    remote = True
    #: A write is a round trip (~10-50 ms, more across regions) that the step waits for:
    #: checkpoint.json is batched over 2 s of steps, and a step has its ``running`` state
    #: written only once it has run 2 s (docs/remote.md, "Cost").
    checkpoint_interval = 2.0
    running_state_delay = 2.0

    def __init__(self, url: str, *, durable: bool = True, lease_seconds: float = 30.0) -> None:
        bucket, _, prefix = url[len(SCHEME) :].partition("/")
        prefix = prefix.strip("/")
        if not bucket:
            raise CheckpointError(f"checkpoints.dir {url!r}: expected s3://bucket[/prefix]")
        self.bucket, self.prefix = bucket, prefix
        self.location = SCHEME + "/".join(p for p in (bucket, prefix) if p)
        self.root = RemotePath(bucket, prefix) if prefix else RemotePath(bucket)
        # S3 acknowledges a PUT once it is stored redundantly: every write is durable.
        self.durable = durable
        self.lease_seconds = lease_seconds
        #: The lease this process holds (set by ``LeaseLock``): every write checks it first.
        self.lease: LeaseLock | None = None
        self._etags: dict[str, str] = {}
        self._etag_guard = threading.Lock()
        #: The latest listing of each prefix: kind() and size() answer from it (listings.py).
        self._listings = Listings()
        self._store: S3Store | None = None
        #: Requests made (the per-step round trips of docs/performance.md).
        self.requests = 0

    # -- the client ----------------------------------------------------------------------

    @property
    def client(self) -> S3Store:
        if self._store is None:
            self._store = _open(self.bucket, self.prefix, self.location)
        return self._store

    def call(self, what: str, key: str, request: Callable[[], _T]) -> _T:
        """Run one request, retrying transient failures; one-line error naming bucket/key."""
        from obstore.exceptions import (
            AlreadyExistsError,
            NotFoundError,
            PermissionDeniedError,
            PreconditionError,
            UnauthenticatedError,
        )

        final = (AlreadyExistsError, PreconditionError, NotFoundError, FileNotFoundError)
        for attempt in range(_ATTEMPTS):
            self.requests += 1
            try:
                return request()
            except final:
                raise
            except (PermissionDeniedError, UnauthenticatedError) as exc:
                raise RemoteStoreError(f"{self.where(key)}: {what} refused: {_line(exc)}") from None
            except Exception as exc:  # obstore's GenericError, timeouts, connection errors
                if attempt + 1 == _ATTEMPTS:
                    raise RemoteStoreError(
                        f"{self.where(key)}: {what} failed after {_ATTEMPTS} attempts: {_line(exc)}"
                    ) from None
                time.sleep(_BACKOFF * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- Backend -------------------------------------------------------------------------

    def where(self, key: str) -> RemotePath:
        return self.root / key if key else self.root

    def get(self, key: str) -> tuple[bytes, str | None]:
        import obstore

        def get() -> tuple[bytes, str | None]:
            result = obstore.get(self.client, key)
            return bytes(result.bytes()), result.meta["e_tag"]

        return self.call("read", key, get)

    def _head(self, key: str) -> dict[str, Any] | None:
        import obstore

        try:
            return dict(self.call("read", key, lambda: obstore.head(self.client, key)))
        except FileNotFoundError:
            return None

    def _entry(self, key: str) -> Entry | None:
        """What ``key`` is, from a listing when one is known (``listings.py``)."""
        known = self._listings.lookup(key)
        if known is not False:
            return known
        parent = key.rpartition("/")[0]
        if parent:  # a run's file: one listing answers for every key beside it too
            self._list(parent)
            known = self._listings.lookup(key)
            if known is not False:
                return known
        if self._list(key):  # at the root, a run id mostly: keys under it make it a prefix
            return Entry("dir", 0, None)
        meta = self._head(key)
        if meta is None:
            return None
        return Entry("file", int(meta["size"]), meta["last_modified"].timestamp())

    def kind(self, key: str) -> Kind | None:
        if not key:
            return "dir"
        entry = self._entry(key)
        return entry.kind if entry is not None else None

    def size(self, key: str) -> int:
        entry = self._entry(key)
        return entry.size if entry is not None and entry.kind == "file" else 0

    def read(self, key: str, *, limit: int = MAX_FILE) -> bytes:
        try:
            data, etag = self.get(key)
        except FileNotFoundError:
            path = self.where(key)
            raise CorruptCheckpointError(f"{path}: file is missing", path=path) from None
        if len(data) > limit:
            path = self.where(key)
            raise CorruptCheckpointError(
                f"{path}: {len(data)} bytes, more than this kind of file ever holds ({limit})",
                path=path,
            )
        if etag:
            with self._etag_guard:
                self._etags[key] = etag
        return data

    def read_many(
        self, key: str, names: Sequence[str], *, limit: int = MAX_FILE
    ) -> dict[str, bytes | None]:
        # One request each, in turn: a run's validation on a remote store is per object.
        found: dict[str, bytes | None] = {}
        for name in names:
            full = f"{key}/{name}" if key else name
            try:
                found[name] = self.read(full, limit=limit)
            except CorruptCheckpointError:
                if self.kind(full) is not None:
                    raise
                found[name] = None  # gone since it was listed
        return found

    def replace(self, key: str, data: bytes, *, durable: bool, sync_dir: bool = True) -> None:
        if self.lease is not None:
            self.lease.check()
        name = key.rpartition("/")[2]
        if name.endswith(".complete"):
            self._put_fenced(key, data, "create")
        elif name == "checkpoint.json" and "/" in key:
            with self._etag_guard:
                etag = self._etags.get(key)
            self._put_fenced(key, data, {"e_tag": etag} if etag else "create")
        else:
            self.put(key, data)

    def held(self, key: str) -> AbstractContextManager[None]:
        return contextlib.nullcontext()  # nothing is opened per access

    def put(self, key: str, data: bytes, mode: Any = "overwrite") -> str | None:
        """One PUT (``mode``: overwrite, create, or ``{"e_tag": ...}``); the new ETag."""
        import obstore

        try:
            result = self.call("write", key, lambda: obstore.put(self.client, key, data, mode=mode))
        except BaseException:
            self._listings.forget(key)  # a write that failed may have landed all the same
            raise
        self._listings.wrote(key, len(data))
        if _FAULT is not None:
            _crash_point(key)
        etag = result["e_tag"]
        if etag:
            with self._etag_guard:
                self._etags[key] = etag
        return etag

    def _put_fenced(self, key: str, data: bytes, mode: Any) -> None:
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        try:
            self.put(key, data, mode)
            return
        except (AlreadyExistsError, PreconditionError, FileNotFoundError):
            pass
        # A retried request whose first attempt landed finds its own bytes: that is success.
        try:
            current = self.read(key)
        except CorruptCheckpointError:
            current = None
        if current != data:
            raise LeaseLostError(
                f"{self.where(key)}: written by another process since this one last saw it "
                "(another machine took over this workflow's lease); stopping without "
                "overwriting it",
                path=self.where(key),
            )

    def _list(self, key: str) -> dict[str, Entry]:
        """One listing of the prefix ``key`` (always asked: the markers' truth), kept."""
        import obstore

        def listing() -> dict[str, Entry]:
            found: dict[str, Entry] = {}
            result = obstore.list_with_delimiter(self.client, key or None)
            for prefix in result["common_prefixes"]:
                found[prefix.rstrip("/").rpartition("/")[2]] = Entry("dir", 0, None)
            for meta in result["objects"]:
                mtime = meta["last_modified"].timestamp()
                found[meta["path"].rpartition("/")[2]] = Entry("file", int(meta["size"]), mtime)
            return found

        generation = self._listings.generation()
        found = self.call("list", key, listing)
        self._listings.keep(key, found, generation)
        return found

    def listing(self, key: str = "") -> list[tuple[str, Kind]]:
        return [(name, entry.kind) for name, entry in self._list(key).items()]

    def names(self, key: str = "") -> list[str]:
        return list(self._list(key))

    def ensure_dir(self, key: str = "") -> None:
        """Nothing to create: a prefix exists once a key under it does."""

    def _keys_under(self, key: str) -> list[str]:
        import obstore

        def keys() -> list[str]:
            return [m["path"] for chunk in obstore.list(self.client, key + "/") for m in chunk]

        return self.call("list", key, keys)

    def remove(self, key: str) -> None:
        import obstore

        try:
            self.call("delete", key, lambda: obstore.delete(self.client, key))
        finally:
            self._listings.removed(key)
        with self._etag_guard:
            self._etags.pop(key, None)

    def remove_run(self, key: str, tombstone: str) -> None:
        """Delete every object of the run, ``checkpoint.json`` last: until then a half-deleted
        run is still a readable run (missing steps run again), never a damaged one."""
        import obstore

        keys = [k for k in self._keys_under(key) if not k.endswith("/checkpoint.json")]
        try:
            if keys:
                self.call("delete", key, lambda: obstore.delete(self.client, keys))
            self.remove(f"{key}/checkpoint.json")
        finally:
            self._listings.removed(key)

    def remove_staging(self, key: str) -> None:
        self.remove_run(key, key)

    def keep_aside(self, key: str, kept: str, *, move: bool) -> None:
        data = self.read(key)
        self.put(kept, data)
        if move:
            self.remove(key)

    def make_run(self, key: str, build: Callable[[str], None], staging: str) -> None:
        # No rename in object storage: the run's first object is its create-only
        # checkpoint.json, so the prefix appears with it, whole.
        build(key)

    def mtime(self, key: str) -> float | None:
        known = self._listings.lookup(key)
        if known is not None and known is not False and known.mtime is not None:
            return known.mtime
        meta = self._head(key)
        return meta["last_modified"].timestamp() if meta else None

    def lock(self, name: str, workflow: str) -> LeaseLock:
        from .lease import LeaseLock

        return LeaseLock(self, name, workflow)


def _open(bucket: str, prefix: str, location: str) -> S3Store:
    try:
        from obstore.store import S3Store
    except ImportError:
        raise CheckpointError(
            f"checkpoints.dir {location} needs the s3 extra: pip install 'invoke-checkpoints[s3]'"
        ) from None
    from datetime import timedelta

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT") or ""
    client: dict[str, Any] = {"connect_timeout": timedelta(seconds=5), "timeout": "30s"}
    if endpoint.startswith("http://"):
        client["allow_http"] = True  # a loopback or LAN endpoint (moto, MinIO) without TLS
    retry: dict[str, Any] = {"max_retries": 3, "retry_timeout": timedelta(seconds=30)}
    extra: dict[str, Any] = {"endpoint": endpoint} if endpoint else {}
    mode: Literal["etag"] = "etag"
    try:
        return S3Store(
            bucket,
            prefix=prefix or None,
            client_options=client,  # type: ignore[arg-type]  # TypedDict built as a dict
            retry_config=retry,  # type: ignore[arg-type]  # TypedDict built as a dict
            conditional_put=mode,
            **extra,
        )
    except Exception as exc:  # obstore's configuration errors
        raise CheckpointError(f"{location}: cannot open the bucket: {_line(exc)}") from None


def _line(exc: BaseException) -> str:
    """The first line of an obstore error (its debug dump follows on later lines)."""
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
