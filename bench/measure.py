"""Timing primitives: whole-process wall time and peak RSS of ``invoke``, medians, one raw
durable write."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "Case",
    "child_env",
    "invoke_cmd",
    "precompile_package",
    "raw_durable_write_ms",
    "run_cases",
    "run_measured",
    "run_once",
    "settle_disk",
]


def child_env() -> dict[str, str]:
    """The environment of every timed process.

    No ``INVOKE_*`` settings from the caller, entry-point plugins off, and
    ``PYTHONDONTWRITEBYTECODE`` unset so tasks.py and the package are loaded from .pyc as users
    would have them.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    for key in ("PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONTRACEMALLOC"):
        env.pop(key, None)
    env["INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def invoke_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", *args]


def run_measured(
    cmd: Sequence[str], cwd: Path, env: dict[str, str], *, expect_failure: bool = False
) -> tuple[float, int]:
    """Run ``cmd`` to completion: its wall time in seconds and its own peak RSS in KiB.

    The peak RSS comes from ``os.wait4`` on that one process (``ru_maxrss`` of
    ``RUSAGE_CHILDREN`` is a maximum over every child ever waited for, useless across several).
    A non-zero exit is an error, or with ``expect_failure`` a zero exit is.
    """
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: wait4 must reap the process
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if (proc.returncode != 0) != expect_failure:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip().splitlines()[-15:]
            raise RuntimeError(
                f"{' '.join(cmd[:6])}{' ...' if len(cmd) > 6 else ''} in {cwd} exited "
                f"{proc.returncode}{' (a failure was expected)' if expect_failure else ''}:\n"
                + "\n".join(tail)
            )
    return elapsed, usage.ru_maxrss  # KiB on Linux


def run_once(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Run ``cmd`` to completion; its wall time in seconds. A non-zero exit is an error."""
    return run_measured(cmd, cwd, env)[0]


@dataclass
class Case:
    """One command timed ``reps`` times, after ``warmups`` untimed runs."""

    key: str
    cmd: list[str]
    cwd: Path
    reps: int
    warmups: int = 1
    #: Directory whose new entries are removed after every timed run (a workflow's store), so
    #: each repetition sees the store exactly as the warm-up left it.
    reset_dir: Path | None = None
    #: Where those entries are moved (same file system; deleted with the workdir at the end).
    #: Deleting thousands of files right away leaves the disk busy (journal, discards) for
    #: seconds, which lands on the next timed command: on a disk mounted with ``discard`` it
    #: slowed later rounds of the 1,000-step workflow from 3.5 s to 10 s, round after round.
    trash: Path | None = None
    #: Called (untimed) before every run of the command, warm-ups included: puts in place
    #: what the command needs, e.g. a failed run for ``--resume`` to continue.
    prepare: Callable[[], None] | None = None
    samples: list[float] = field(default_factory=list)
    #: Peak RSS (KiB) of each timed run, beside ``samples``.
    rss_kib: list[int] = field(default_factory=list)
    #: Entries of ``reset_dir`` after the warm-up; ``None``: it did not exist then.
    _baseline: set[str] | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def _snapshot(self) -> None:
        if self.reset_dir is not None and self.reset_dir.is_dir():
            self._baseline = set(os.listdir(self.reset_dir))

    def _reset(self) -> None:
        if self.reset_dir is None or not self.reset_dir.is_dir():
            return
        if self._baseline is None:
            shutil.rmtree(self.reset_dir)
            return
        for name in set(os.listdir(self.reset_dir)) - self._baseline:
            path = self.reset_dir / name
            if self.trash is not None:
                self.trash.mkdir(parents=True, exist_ok=True)
                os.rename(path, self.trash / f"{self.key}.{len(self.samples)}.{name}")
            elif path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def run_cases(
    cases: Sequence[Case],
    env: dict[str, str],
    progress: Callable[[str], None],
    settle: Callable[[], object] | None = None,
) -> dict[str, Case]:
    """Warm every case up, then time them interleaved (round after round), so that load from
    other processes on the machine drifts over all of them alike rather than over one;
    ``settle`` (untimed) before each round."""
    for case in cases:
        for _ in range(case.warmups):
            if case.prepare is not None:
                case.prepare()
            run_once(case.cmd, case.cwd, env)
    for case in cases:  # after every warm-up: cases may share a store
        case._snapshot()
    rounds = max((c.reps for c in cases), default=0)
    for n in range(rounds):
        if settle is not None:
            settle()
        progress(f"round {n + 1}/{rounds}")
        for case in cases:
            if len(case.samples) < case.reps:
                if case.prepare is not None:
                    case.prepare()
                seconds, rss = run_measured(case.cmd, case.cwd, env)
                case.samples.append(seconds)
                case.rss_kib.append(rss)
                case._reset()
    return {c.key: c for c in cases}


def settle_disk(path: Path, quiet: float = 1.0, limit: float = 60.0) -> float:
    """Flush every dirty page (``sync``), then wait until the disk holding ``path`` has done no
    I/O for ``quiet`` seconds (its ``/sys/dev/block/MAJ:MIN/stat`` unchanged; at most ``limit``
    seconds); the seconds it took. Without this, the disk's work left by earlier commands (the
    writeback of runs made with fsync off, the discards of deleted files on a disk mounted with
    ``discard``) lands on whichever command comes next: in round 6 a harness run started right
    after another one's 100,000 files were deleted timed its 300-step workflows 30% slower."""
    started = time.monotonic()
    os.sync()
    st = os.stat(path)
    stat = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/stat")
    try:
        last, since = stat.read_text(), time.monotonic()
    except OSError:
        return time.monotonic() - started  # not Linux, or no such device: sync alone
    while time.monotonic() - since < quiet and time.monotonic() - started < limit:
        time.sleep(0.1)
        now = stat.read_text()
        if now != last:
            last, since = now, time.monotonic()
    return time.monotonic() - started


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _durable_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def raw_durable_write_ms(directory: Path, count: int, size: int = 200) -> list[float]:
    """``count`` timings (ms) of write + fsync + rename + fsync(dir) of a ``size``-byte file,
    after a few untimed ones. The unit P1 is expressed in."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "raw_write.bin"
    data = b"x" * size
    for _ in range(5):
        _durable_write(target, data)
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        _durable_write(target, data)
        timings.append((time.perf_counter() - started) * 1000.0)
    target.unlink()
    return timings


def precompile_package() -> str:
    """Byte-compile the ``invoke_checkpoints`` that will be measured; its directory.

    Invoke sets ``sys.dont_write_bytecode`` before it loads tasks.py (unless ``--write-pyc``),
    so an editable checkout would be compiled from source by every command, while an install
    from a wheel has the .pyc files pip compiled. This does once what pip does.
    """
    import compileall

    import invoke_checkpoints

    package = Path(invoke_checkpoints.__file__).resolve().parent
    compileall.compile_dir(str(package), quiet=1)
    return str(package)
