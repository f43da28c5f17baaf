"""Shared fixtures: a project directory with a tasks.py, run in-process and as a real process."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from invoke import Program

import invoke_checkpoints

if TYPE_CHECKING:
    from collections.abc import Iterator

# tasks.py is rewritten within the same second by many tests; stale .pyc files would hide that.
sys.dont_write_bytecode = True

INVOKE = [sys.executable, "-m", "invoke"]


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

    def write(self, source: str, name: str = "tasks.py") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
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


#: A three-step workflow; step ``test`` fails with exit code $FAIL_CODE when $FAIL is set.
THREE_STEPS = """
    import os
    from invoke import Collection, task
    from invoke_checkpoints import workflow, current_step

    @task
    def lint(c):
        c.run("echo lint-ran >> log.txt")
        current_step().outputs["checked"] = 3

    @task
    def test(c):
        c.run("echo test-ran >> log.txt")
        if os.environ.get("FAIL"):
            c.run("exit " + os.environ.get("FAIL_CODE", "3"))

    @task
    def docs(c):
        c.run("echo docs-ran >> log.txt")
        return {"pages": 2}

    ns = Collection(lint, test, docs)
    ns.add_collection(workflow(lint, test, docs))
"""


def log_lines(project: Project) -> list[str]:
    path = project.root / "log.txt"
    return path.read_text().split() if path.exists() else []


#: A run id: ``<name>_YYYYMMDD_HHMMSS`` with an optional ``_N`` (N >= 2 in practice).
RUN_ID = re.compile(
    r"(?P<name>[A-Za-z][\w-]*)_(?P<stamp>\d{8}_\d{6})(?:_(?P<n>[1-9]\d*))?", re.ASCII
)

#: Three steps; each appends its name to log.txt. ``slow`` blocks when $SLOW is set: its child
#: (Python, exec'd in place of the shell) writes its pid to child.pid, creates ``started`` and
#: sleeps 30 s. With $HOLD set it runs a Python loop that waits for a ``release`` file.
#: A second workflow, ``release``, has steps first and last.
SLEEPY = """
    import os, sys, time
    from pathlib import Path
    from invoke import Collection, task
    from invoke_checkpoints import workflow

    # The child says it is ready itself, once it is the program that gets the signal (a shell
    # can drop a signal that reaches it just before `exec`); SIGINT kills it without traceback.
    SLEEP_CHILD = 'exec "' + sys.executable + '" -c "' + "; ".join([
        "import os, signal, time",
        "signal.signal(signal.SIGINT, signal.SIG_DFL)",
        "open('child.pid', 'w').write(str(os.getpid()) + chr(10))",
        "open('started', 'w').close()",
        "time.sleep(30)",
    ]) + '"'

    @task
    def first(c):
        c.run("echo first >> log.txt")

    @task
    def slow(c):
        c.run("echo slow >> log.txt")
        if os.environ.get("SLOW"):
            c.run(SLEEP_CHILD)
        if os.environ.get("HOLD"):
            Path("started").write_text(str(os.getpid()))
            deadline = time.monotonic() + 60
            while not Path("release").exists() and time.monotonic() < deadline:
                time.sleep(0.02)

    @task
    def last(c):
        c.run("echo last >> log.txt")

    ns = Collection(first, slow, last)
    ns.add_collection(workflow(first, slow, last))
    ns.add_collection(workflow(first, last, name="release"))
"""


def wait_for(path: Path, proc: subprocess.Popen[str] | None = None, timeout: float = 30) -> None:
    """Poll until ``path`` exists; fail at once, with its output, if ``proc`` exits first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"process exited {proc.returncode} before {path.name}:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def read_pid(path: Path, proc: subprocess.Popen[str] | None = None, timeout: float = 30) -> int:
    """The pid a child wrote to ``path`` (``echo $$ > path``), once its line is complete."""
    deadline = time.monotonic() + timeout
    while True:
        wait_for(path, proc, timeout)
        text = path.read_text()
        if text.endswith("\n"):
            return int(text)
        assert time.monotonic() < deadline, f"{path} never got a whole line"
        time.sleep(0.01)


def pid_gone(pid: int, timeout: float = 5) -> bool:
    """True once no process ``pid`` exists (polls up to ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


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


__all__ = [
    "INVOKE",
    "RUN_ID",
    "SLEEPY",
    "THREE_STEPS",
    "Outcome",
    "Project",
    "invoke_checkpoints",
    "lock_is_free",
    "log_lines",
    "one_line",
    "pid_gone",
    "read_pid",
    "run_files",
    "wait_for",
]
