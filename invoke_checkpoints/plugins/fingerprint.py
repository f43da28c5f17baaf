"""Fingerprints for smart execution: input files, args and the task's code, hashed.

A step with ``inputs`` is skipped when its fingerprint equals the one recorded at its last
successful completion in any earlier run of the workflow. File contents are hashed once per
(path, size, mtime): the cache lives in the store beside the fingerprint index.
"""

from __future__ import annotations

import json
import marshal
from typing import TYPE_CHECKING, Any

from ..store.structs import field, record
from .source import function_source

if TYPE_CHECKING:
    from pathlib import Path

    from invoke import Task

    from ..store.runs import Store

__all__ = [
    "Fingerprint",
    "FingerprintIndex",
    "HashCache",
    "code_hash",
    "compute",
    "explain_change",
    "sha256_hex",
    "step_code_hash",
]

if TYPE_CHECKING:
    from hashlib import sha256
else:
    # CPython's own C SHA-256, the one hashlib falls back on: the same digests without importing
    # hashlib (~2-3 ms of every run's start: it loads OpenSSL's and blake2's modules and builds
    # every algorithm's constructor) for the short texts hashed at each step. Files' contents,
    # where OpenSSL's is several times faster, are hashed with hashlib (``HashCache``).
    try:
        from _sha256 import sha256  # Python <= 3.11
    except ImportError:
        try:
            from _sha2 import sha256  # Python 3.12+
        except ImportError:  # a build without the built-in hashes
            from hashlib import sha256

_CHUNK = 1 << 20


def sha256_hex(data: bytes) -> str:
    """The SHA-256 digest of ``data`` in hex (``hashlib.sha256(data).hexdigest()``)."""
    return sha256(data).hexdigest()


class HashCache:
    """Content hashes keyed by path, trusted while (size, mtime_ns) are unchanged."""

    def __init__(self, store: Store, name: str) -> None:
        self.store, self.name = store, name
        self._entries = store.read_json(name)
        self._dirty = False

    def digest(self, file: Path, key: str) -> str:
        st = file.stat()
        entry = self._entries.get(key)
        if isinstance(entry, list) and entry[:2] == [st.st_size, st.st_mtime_ns]:
            return str(entry[2])
        import hashlib

        h = hashlib.sha256()
        with file.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        self._entries[key] = [st.st_size, st.st_mtime_ns, h.hexdigest()]
        self._dirty = True
        return h.hexdigest()

    def save(self) -> None:
        if self._dirty:
            self.store.write_json(self.name, json.dumps(self._entries, sort_keys=True).encode())
            self._dirty = False


def expand(root: Path, patterns: tuple[str, ...]) -> list[str]:
    """Files matched by ``patterns`` (globs relative to ``root``, ``**`` allowed), sorted."""
    found: set[str] = set()
    for pattern in patterns:
        for path in root.glob(pattern):
            if path.is_file():
                found.add(path.relative_to(root).as_posix())
    return sorted(found)


def code_hash(task: Task[Any]) -> str:
    """Hash of the task body's source (its bytecode when the source is not available)."""
    body = task.body
    try:
        return sha256_hex(function_source(body).encode())
    except (OSError, TypeError):
        code = getattr(body, "__code__", None)
        return sha256_hex(marshal.dumps(code) if code is not None else repr(body).encode())


def step_code_hash(task: Task[Any]) -> str:
    """Hash of what a step runs: its task's code and, when it has pre/post tasks, theirs and the
    args they are called with (recursively, in Invoke's order). A task without pre/post tasks
    hashes as :func:`code_hash` alone, so fingerprints recorded before stay valid."""
    chain = _chain(task, depth=0)
    if len(chain) == 1:
        return str(chain[0])  # the task's own code_hash, already computed by _chain
    return sha256_hex(json.dumps(chain, default=repr).encode())


def _chain(task: Task[Any], depth: int) -> list[Any]:
    if depth > 50:  # a pre/post cycle: Invoke would recurse forever; stop hashing
        return []
    out: list[Any] = []
    chains: tuple[tuple[str, Any], ...] = (("pre", task.pre), ("post", task.post))
    for role, items in chains:
        for item in items:
            sub: Task[Any] = getattr(item, "task", item)  # a Call or a Task
            args = [list(getattr(item, "args", ())), dict(getattr(item, "kwargs", {}))]
            nested = _chain(sub, depth + 1)
            out.append([role, sub.name, args, nested if len(nested) != 1 else nested[0]])
    return [code_hash(task), *out]


@record(kw_only=False, frozen=True)
class Fingerprint:
    """What a step's result depends on."""

    files: dict[str, str]
    args: str
    code: str
    digest: str = field(default="")

    @classmethod
    def of(cls, files: dict[str, str], args: str, code: str) -> Fingerprint:
        blob = json.dumps({"files": files, "args": args, "code": code}, sort_keys=True)
        return cls(files, args, code, sha256_hex(blob.encode()))

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "files": self.files, "args": self.args, "code": self.code}


def compute(
    root: Path, patterns: tuple[str, ...], args: dict[str, Any], task: Task[Any], cache: HashCache
) -> Fingerprint:
    files = {rel: cache.digest(root / rel, rel) for rel in expand(root, patterns)}
    args_hash = sha256_hex(json.dumps(args, sort_keys=True, default=repr).encode())
    return Fingerprint.of(files, args_hash, step_code_hash(task))


def explain_change(old: dict[str, Any] | None, new: Fingerprint) -> str | None:
    """Why ``new`` differs from the recorded ``old``; ``None`` when they are equal."""
    if not old:
        return "never run: no earlier successful completion recorded"
    if old.get("digest") == new.digest:
        return None
    reasons = []
    recorded = old.get("files")
    old_files: dict[str, Any] = recorded if isinstance(recorded, dict) else {}
    changed = [p for p in new.files if p in old_files and old_files[p] != new.files[p]]
    added = [p for p in new.files if p not in old_files]
    removed = [p for p in old_files if p not in new.files]
    for label, paths in (("changed", changed), ("added", added), ("removed", removed)):
        if paths:
            shown = ", ".join(paths[:5]) + (f" (+{len(paths) - 5} more)" if len(paths) > 5 else "")
            reasons.append(f"input files {label}: {shown}")
    if old.get("args") != new.args:
        reasons.append("args changed")
    if old.get("code") != new.code:
        reasons.append("code changed")
    return "; ".join(reasons) or "fingerprint changed"


class FingerprintIndex:
    """Per workflow: the fingerprint of each step's last successful completion."""

    def __init__(self, store: Store, name: str) -> None:
        self.store, self.name = store, name
        self.entries = store.read_json(name)

    def get(self, step_name: str) -> dict[str, Any] | None:
        entry = self.entries.get(step_name)
        return entry if isinstance(entry, dict) else None

    def record(self, step_name: str, fingerprint: Fingerprint, run_id: str) -> None:
        self.entries[step_name] = {**fingerprint.to_dict(), "run_id": run_id}
        data = json.dumps(self.entries, indent=1, sort_keys=True).encode()
        # Not the commit point of anything: losing it only means one needless re-run.
        self.store.write_json(self.name, data)
