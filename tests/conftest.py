"""Shared fixtures: a project directory with a tasks.py, run in-process and as a real process.

A test starts from a fixture project (``project.use("<name>")`` copies ``tests/projects/<name>/``)
or, for a genuinely one-off tasks.py of a few lines, writes it (``project.write``). Anything
that waits for a condition polls it with ``wait_for``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from invoke import Program

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

T = TypeVar("T")

#: ``workflow_project``: the helper plugin authors use (invoke_checkpoints/testing.py).
pytest_plugins = ["invoke_checkpoints.testing"]

# tasks.py is rewritten within the same second by many tests; stale .pyc files would hide that.
sys.dont_write_bytecode = True

INVOKE = [sys.executable, "-m", "invoke"]

#: Fixture projects: ``tests/projects/<name>/`` (a tasks.py, documented at its top).
PROJECTS = Path(__file__).resolve().parent / "projects"


@dataclass
class Outcome:
    """What one invocation did."""

    code: int
    out: str
    err: str


class Project:
    """A directory with a tasks.py; run Invoke on it in-process or in a subprocess."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.store = root / ".checkpoints"
        self._monkeypatch = monkeypatch
        self._procs: list[subprocess.Popen[str]] = []

    def use(self, name: str) -> Path:
        """Copy the fixture project ``tests/projects/<name>/`` here; the path of its tasks.py.

        Files get a fresh mtime (``shutil.copy``), as if written now.
        """
        shutil.copytree(
            PROJECTS / name,
            self.root,
            dirs_exist_ok=True,
            copy_function=shutil.copy,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        return self.root / "tasks.py"

    def write(self, source: str, name: str = "tasks.py") -> Path:
        """Write a small one-off file (``source`` is dedented)."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    def edit(self, old: str, new: str, name: str = "tasks.py") -> Path:
        """Replace ``old``, which must occur exactly once in ``name``, by ``new``."""
        path = self.root / name
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
        path.write_text(text.replace(old, new))
        return path

    def invoke(
        self, *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> Outcome:
        """Run ``invoke argv`` in this process (``Program.run``); exit code from ``SystemExit``."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.ExitStack() as stack:
            self._monkeypatch.chdir(cwd or self.root)
            for key, value in (env or {}).items():
                self._monkeypatch.setenv(key, value)
            stack.enter_context(contextlib.redirect_stdout(out))
            stack.enter_context(contextlib.redirect_stderr(err))
            # Invoke mirrors stdin into c.run() children; pytest's captured stdin refuses reads.
            self._monkeypatch.setattr(sys, "stdin", io.StringIO(""))
            code = 0
            try:
                Program(name="invoke", binary="invoke", version="test").run(
                    ["invoke", *argv], exit=True
                )
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            for key in env or {}:
                self._monkeypatch.delenv(key, raising=False)
        return Outcome(code, out.getvalue(), err.getvalue())

    def run(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        timeout: float = 60,
        cwd: Path | None = None,
    ) -> Outcome:
        """Run the real ``invoke`` in a subprocess."""
        proc = subprocess.run(
            [*INVOKE, *argv],
            cwd=cwd or self.root,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Outcome(proc.returncode, proc.stdout, proc.stderr)

    def popen(
        self, *argv: str, env: dict[str, str] | None = None, stdin: int | None = None
    ) -> subprocess.Popen[str]:
        """Start the real ``invoke`` in its own session (so signals reach only it and its kids).

        ``stdin`` is passed to Popen (``subprocess.DEVNULL``: stdin at EOF, like CI or cron;
        ``subprocess.PIPE``: open and silent, like an idle terminal). Processes still running
        when the test ends are killed with their process group.
        """
        proc = subprocess.Popen(
            [*INVOKE, *argv],
            cwd=self.root,
            env=self.env(env),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def reap(self) -> None:
        """Kill (by process group) every process ``popen`` started that is still running."""
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ValueError, OSError):
                proc.communicate(timeout=10)
        self._procs.clear()

    @staticmethod
    def env(extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        env.update(extra or {})
        return env

    # -- reading the store -------------------------------------------------------------------

    def runs(self, workflow: str = "workflow") -> list[Path]:
        if not self.store.is_dir():
            return []
        return sorted(
            p for p in self.store.iterdir() if p.is_dir() and p.name.startswith(f"{workflow}_")
        )

    def only_run(self, workflow: str = "workflow") -> Path:
        runs = self.runs(workflow)
        assert len(runs) == 1, runs
        return runs[0]

    @staticmethod
    def checkpoint(run: Path) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((run / "checkpoint.json").read_text())
        return data

    @staticmethod
    def state(run: Path, step: int) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (run / "state" / f"step_{step:02d}_state.json").read_text()
        )
        return data

    @staticmethod
    def markers(run: Path) -> list[int]:
        return sorted(int(p.name[5:-9]) for p in run.glob("step_*.complete"))

    def snapshot(self) -> dict[str, bytes]:
        """Every file under the store with its bytes, to prove a command changed nothing."""
        if not self.store.exists():
            return {}
        return {
            str(p.relative_to(self.store)): p.read_bytes()
            for p in sorted(self.store.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """An empty project directory; plugin autoload off so the host's plugins cannot interfere."""
    for key in list(os.environ):
        if key.startswith("INVOKE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD", "1")
    root = tmp_path / "proj"
    root.mkdir()
    proj = Project(root, monkeypatch)
    yield proj
    proj.reap()


@pytest.fixture(scope="session")
def s3() -> Iterator[Any]:
    """One S3 server (moto, single-threaded, 127.0.0.1) for every remote-store test of the
    session (``remote_support.py``); each test uses a prefix of its own."""
    from .remote_support import have_s3, s3_server

    if not have_s3():
        pytest.skip("needs the s3 and test extras (obstore, moto)")
    with s3_server() as running:
        yield running


@pytest.fixture
def server(s3: Any) -> Any:
    """The session's S3 server (``remote_support.S3Server``)."""
    return s3


@pytest.fixture
def prefix() -> str:
    """A key prefix of the bucket that no other test uses."""
    from .remote_support import new_prefix

    return new_prefix()


@pytest.fixture
def bucket(server: Any, prefix: str) -> Any:
    """What the test's prefix of the bucket holds (``remote_support.Bucket``)."""
    from .remote_support import Bucket

    return Bucket(server, prefix)


@pytest.fixture
def machines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Any, prefix: str
) -> Iterator[Callable[[str], Any]]:
    """``machines(name)``: a project directory with its own HOME and caches whose store is
    the test's prefix of the bucket (``remote_support.Machine``), reaped after the test."""
    from .remote_support import Machine

    made: list[Machine] = []

    def machine(name: str) -> Machine:
        made.append(Machine(tmp_path / name, monkeypatch, server, f"s3://ckpt/{prefix}"))
        return made[-1]

    yield machine
    for m in made:
        m.reap()


#: The text of ``tests/projects/three_steps/tasks.py``, for tests that write it themselves
#: (prefer ``project.use("three_steps")``).
THREE_STEPS = (PROJECTS / "three_steps" / "tasks.py").read_text()


def log_lines(project: Project) -> list[str]:
    path = project.root / "log.txt"
    return path.read_text().split() if path.exists() else []


#: A run id: ``<name>_YYYYMMDD_HHMMSS`` with an optional ``_N`` (N >= 2 in practice).
RUN_ID = re.compile(
    r"(?P<name>[A-Za-z][\w-]*)_(?P<stamp>\d{8}_\d{6})(?:_(?P<n>[1-9]\d*))?", re.ASCII
)


class WaitTimeout(AssertionError):
    """``wait_for`` gave up: the condition never held within its timeout."""


def wait_for(
    predicate: Callable[[], T | None],
    *,
    timeout: float = 30,
    interval: float = 0.02,
    proc: subprocess.Popen[str] | None = None,
    what: str = "",
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    The predicate is tried at least once, even with ``timeout=0``. Raises ``WaitTimeout``
    (an ``AssertionError``) after ``timeout`` seconds. With ``proc``, fails at once, with its
    output, when that process exits before the condition holds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(
                f"process exited {proc.returncode} before {what or predicate}:\n{out}\n{err}"
            )
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{what or predicate} never held within {timeout} s")
        time.sleep(interval)


def read_pid(path: Path, proc: subprocess.Popen[str] | None = None, timeout: float = 30) -> int:
    """The pid a child wrote to ``path`` (``echo $$ > path``), once its line is complete."""

    def whole_line() -> int | None:
        text = path.read_text() if path.exists() else ""
        return int(text) if text.endswith("\n") else None

    return wait_for(whole_line, timeout=timeout, proc=proc, what=f"a whole line in {path}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def pid_gone(pid: int, timeout: float = 5) -> bool:
    """True once no process ``pid`` exists (polls up to ``timeout`` seconds), else False."""
    try:
        wait_for(lambda: not pid_alive(pid), timeout=timeout, what=f"process {pid} to end")
    except WaitTimeout:
        return False
    return True


def lock_is_free(path: Path) -> bool:
    """Whether the flock on ``path`` can be taken right now (then it is released again)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def one_line(outcome: Outcome) -> str:
    """The single line a user error prints on stderr (asserts it is one, without traceback)."""
    text = outcome.err.strip()
    assert "Traceback" not in outcome.out + outcome.err, outcome.err
    assert len(text.splitlines()) == 1, outcome.err
    return text


def run_files(run: Path) -> dict[str, bytes]:
    """Every file of one run directory with its bytes."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def store_files(project: Project) -> dict[str, bytes]:
    """Every file of the store with its bytes, except the lock's own bookkeeping.

    Every invocation that takes the lock records its pid in ``<workflow>.lock.json``: that
    says who last held the lock, nothing about a run, so it is left out of "unchanged".
    """
    return {k: v for k, v in project.snapshot().items() if ".lock" not in k}


def rename_run(run: Path, new_id: str) -> Path:
    """Give a run another id (directory and ``workflow_id``), keeping its files consistent."""
    path = run / "checkpoint.json"
    cp = json.loads(path.read_text())
    cp["workflow_id"] = new_id
    path.write_text(json.dumps(cp))
    return run.rename(run.with_name(new_id))


def age_run(run: Path, days: float) -> Path:
    """Make a run ``days`` old: an id from then, and checkpoint.json last written then."""
    then = time.time() - days * 86_400
    workflow = RUN_ID.fullmatch(run.name)
    assert workflow is not None, run.name
    aged = rename_run(
        run, f"{workflow['name']}_" + time.strftime("%Y%m%d_%H%M%S", time.gmtime(then))
    )
    os.utime(aged / "checkpoint.json", (then, then))
    return aged
