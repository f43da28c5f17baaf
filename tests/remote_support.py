"""A real S3-compatible server on 127.0.0.1 (moto's, single-threaded) and "machines" using it.

A machine is a project directory of its own, with its own HOME and caches, whose store is the
same bucket prefix: what one machine leaves in the bucket is all another one sees.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import Outcome, Project

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BUCKET = "ckpt"


def have_s3() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("moto", "obstore", "werkzeug"))


@dataclass
class S3Server:
    """The server process and the environment that points a client at it."""

    proc: subprocess.Popen[str]
    endpoint: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",  # moto accepts any credentials
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.s3_server", BUCKET],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=str(_repo()),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the port, once it listens (moto imports in ~2 s)
        assert line.strip().isdigit(), f"the S3 server did not start: {line!r}"
        yield S3Server(proc, f"http://127.0.0.1:{int(line)}")
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _repo() -> Path:
    from pathlib import Path

    return Path(__file__).resolve().parent.parent


class Machine(Project):
    """A project directory with its own HOME and caches whose store is the shared prefix."""

    def __init__(
        self, root: Path, monkeypatch: pytest.MonkeyPatch, server: S3Server, url: str
    ) -> None:
        root.mkdir(parents=True)
        super().__init__(root, monkeypatch)
        self.server = server
        self.url = url
        home = root / "home"
        home.mkdir()
        self.base_env = {
            **server.env(),
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "INVOKE_CHECKPOINTS_DIR": url,
            "INVOKE_CHECKPOINTS_LEASE_SECONDS": "2",
        }
        self.use("remote")

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:  # type: ignore[override]  # an instance method here: a machine has its own environment
        return Project.env({**self.base_env, **(extra or {})})

    def invoke(
        self, *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Outcome:
        """``invoke argv`` in this process (``Program.run``) with this machine's environment."""
        return super().invoke(*argv, env={**self.base_env, **(env or {})}, cwd=cwd)

    def log(self) -> list[str]:
        path = self.root / "log.txt"
        return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


class Bucket:
    """Read the shared prefix directly (obstore), as a third party would."""

    def __init__(self, server: S3Server, prefix: str) -> None:
        from obstore.store import S3Store

        self.prefix = prefix
        self.store = S3Store(
            BUCKET,
            prefix=prefix,
            endpoint=server.endpoint,
            client_options={"allow_http": True},
            access_key_id="testing",
            secret_access_key="testing",
            region="us-east-1",
        )

    def names(self) -> list[str]:
        import obstore

        return sorted(m["path"] for chunk in obstore.list(self.store) for m in chunk)

    def read(self, key: str) -> bytes:
        import obstore

        return bytes(obstore.get(self.store, key).bytes())

    def write(self, key: str, data: bytes) -> None:
        import obstore

        obstore.put(self.store, key, data)

    def runs(self) -> list[str]:
        return sorted({k.split("/")[0] for k in self.names() if "/" in k})

    def only_run(self) -> str:
        runs = self.runs()
        assert len(runs) == 1, runs
        return runs[0]

    def markers(self, run: str) -> list[int]:
        names = [k.split("/")[1] for k in self.names() if k.startswith(run + "/")]
        return sorted(int(n[5:-9]) for n in names if n.endswith(".complete"))

    def checkpoint(self, run: str) -> dict[str, Any]:
        import json

        data: dict[str, Any] = json.loads(self.read(f"{run}/checkpoint.json"))
        return data

    def snapshot(self) -> dict[str, bytes]:
        return {k: self.read(k) for k in self.names()}


def new_prefix() -> str:
    return f"t-{uuid.uuid4().hex[:12]}/checkpoints"
