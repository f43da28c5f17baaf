#!/usr/bin/env python3
"""The crash matrix: SIGKILL a real ``invoke`` workflow at random instants, resume, check.

    python tests/reliability/harness.py --kills=1000 --report docs/reliability.md

Each *round* is a fresh project whose tasks.py (``tests/projects/twenty_steps``) holds a
20-step workflow; every step appends ``begin <step> <pid>`` and ``end <step> <pid>`` to
``effects.log``. The round starts the
workflow (``invoke workflow``) and SIGKILLs every invocation, then resumes it
(``invoke workflow --resume``), until an invocation completes the run. A kill is either
inside a checkpoint write, through the test-only ``INVOKE_CHECKPOINTS_FAULT=<stage>:<n>``
(the n-th atomic write of the process dies right after its write, fsync, rename or
directory fsync; a timer backs up a fault aimed at a write that skips that stage), or a
plain SIGKILL of the process group after a random delay. Rounds repeat until the requested
number of kills is reached; the last round then runs to the end without further kills.
After every invocation:

* every file in the store parses (JSON documents with ``json`` and their pydantic model,
  markers as ``KEY=VALUE`` lines and their model) and agrees with the others;
* no step that had a marker before the invocation began again in it;
* at most one step that began before runs again per kill: the one in flight, first;
* when it exited 0, the run is complete: status completed, 20 markers, every step ran,
  no temp file or half-created run directory left.

``--report`` writes the figures (and, with ``--fuzz-examples``, those of the hypothesis
fuzz suites run as a subprocess) to a Markdown file. The exit code is 0 when no invariant
was violated, 1 otherwise; the directory of a failing round is kept and named.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script: make invoke_checkpoints and tests importable
    sys.path.insert(0, str(REPO))

from invoke_checkpoints.errors import CheckpointError  # noqa: E402
from invoke_checkpoints.store.models import Checkpoint, Marker, StepState  # noqa: E402

STEPS = 20
STEP_NAMES = [f"s{n:02d}" for n in range(STEPS)]
STAGES = ("write", "fsync", "rename", "dirsync")
#: Share of kills made inside a checkpoint write (the rest are timed SIGKILLs).
FAULT_SHARE = 0.85
#: Invocations one round may take before the harness calls it a livelock.
MAX_INVOCATIONS = 400
KILLED = -signal.SIGKILL

#: The 20-step workflow every round runs (a fixture project of the test suite).
TASKS_PY = REPO / "tests" / "projects" / "twenty_steps" / "tasks.py"

_RUN_DIR = re.compile(r"^workflow_\d{8}_\d{6}(?:_[1-9]\d*)?$")
_TEMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{16}\.tmp$")
_UNBORN = re.compile(r"^\.new-workflow_\d{8}_\d{6}(?:_[1-9]\d*)?\.\d+$")
_MARKER = re.compile(r"^step_(\d+)\.complete$")
_STATE = re.compile(r"^step_(\d+)_state\.json$")
_MARKER_LINE = re.compile(r"^[A-Z_]+=\S*$")
_ROOT_FILES = {
    ".gitignore",
    "README.md",
    "workflow.lock",
    "workflow.lock.json",
    "workflow.runs.lock",
    "workflow.latest",
}
GITIGNORE = b"# Created by invoke-checkpoints.\n*\n"


@dataclass
class Figures:
    """What one matrix did and found."""

    seed: int
    target: int
    kills: int = 0
    kills_by: Counter[str] = field(default_factory=Counter)
    invocations: int = 0
    rounds: int = 0
    #: Invocations that completed although a kill was planned (fault past the last write).
    survived: int = 0
    survived_by: Counter[str] = field(default_factory=Counter)
    files_checked: int = 0
    #: Steps that began again after a kill (the step in flight).
    reruns: int = 0
    #: Largest number of re-runs seen in one invocation (the invariant allows 1).
    max_reruns_per_kill: int = 0
    #: Steps that had a marker and began again (the invariant allows none).
    marked_reruns: int = 0
    temp_files_seen: int = 0
    unborn_dirs_seen: int = 0
    seconds: float = 0.0
    #: How far checkpoint.json may lag the markers (LAG_SECONDS; more for a remote store).
    lag_seconds: float = 1.0
    calibration: dict[str, float] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    kept: str | None = None

    def as_json(self) -> dict[str, object]:
        data = dict(self.__dict__)
        data["kills_by"] = dict(sorted(self.kills_by.items()))
        data["survived_by"] = dict(sorted(self.survived_by.items()))
        return data


@dataclass
class Plan:
    """How the next invocation is to die: a fault, a timer, or not at all."""

    fault: str | None = None
    #: Seconds until a SIGKILL; with a fault, a backstop in case the fault never fires.
    delay: float | None = None

    @property
    def kind(self) -> str:
        if self.fault is not None:
            return "fault:" + self.fault.split(":")[0]
        return "timed" if self.delay is not None else "none"


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.update(extra or {})
    return env


def invoke(
    project: Path, argv: Sequence[str], plan: Plan, env: dict[str, str] | None = None
) -> tuple[int, int, str, str, bool]:
    """Run ``invoke argv`` in ``project`` (with ``env`` added to the environment); returns
    (exit code, pid, stdout, stderr, whether the timer killed it)."""
    extra = {**(env or {}), **({"INVOKE_CHECKPOINTS_FAULT": plan.fault} if plan.fault else {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", *argv],
        cwd=project,
        env=child_env(extra),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, err = proc.communicate(timeout=plan.delay if plan.delay is not None else 120)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return proc.returncode, proc.pid, out, err, timed_out


def write_project(project: Path) -> None:
    project.mkdir(parents=True)
    shutil.copy(TASKS_PY, project / "tasks.py")


def calibrate(workdir: Path) -> dict[str, float]:
    """Wall time of a whole uninterrupted run and of a no-op invocation, to aim timed kills."""
    project = workdir / "calibration"
    write_project(project)
    start = time.monotonic()
    code, _, _, err, _ = invoke(project, ["workflow"], Plan())
    full = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"calibration run failed ({code}): {err}")
    start = time.monotonic()
    invoke(project, ["workflow", "--resume"], Plan())
    noop = time.monotonic() - start
    shutil.rmtree(project)
    return {"full_run_seconds": round(full, 3), "startup_seconds": round(noop, 3)}


# -- reading the store -------------------------------------------------------------------


@dataclass
class RunView:
    """The parsed files of the one run of a round."""

    path: Path
    checkpoint: Checkpoint | None
    markers: set[int]
    states: dict[int, StepState]
    temps: list[Path]


def _mode(path: Path) -> int:
    return path.lstat().st_mode & 0o777


def check_store(store: Path, figures: Figures) -> tuple[RunView | None, list[str]]:
    """Parse every file of the store; returns the run (if any) and what is wrong."""
    problems: list[str] = []
    if not store.exists():
        return None, problems
    if _mode(store) != 0o700:
        problems.append(f"{store}: mode {_mode(store):o}, expected 700")
    runs = [
        run
        for entry in sorted(store.iterdir())
        if (run := _check_root_entry(entry, problems, figures)) is not None
    ]
    if len(runs) > 1:
        problems.append(f"{store}: {len(runs)} runs in one round")
    return (runs[0] if runs else None), problems


def _check_root_entry(entry: Path, problems: list[str], figures: Figures) -> RunView | None:
    name = entry.name
    if entry.is_symlink():
        problems.append(f"{entry}: a symlink in the store")
    elif _RUN_DIR.match(name) and entry.is_dir():
        return _check_run(entry, problems, figures)
    elif _UNBORN.match(name) and entry.is_dir():
        figures.unborn_dirs_seen += 1  # a kill while the run directory was being built
    elif _TEMP.match(name) and entry.is_file():
        figures.temp_files_seen += 1
    elif name in _ROOT_FILES and entry.is_file():
        figures.files_checked += 1
        data = entry.read_bytes()
        if _mode(entry) != 0o600:
            problems.append(f"{entry}: mode {_mode(entry):o}, expected 600")
        if name == ".gitignore" and data != GITIGNORE:
            problems.append(f"{entry}: unexpected content {data!r}")
        if name == "workflow.latest" and data and not _RUN_DIR.match(data.decode().strip()):
            problems.append(f"{entry}: names no run: {data[:80]!r}")
        if name == "workflow.lock.json":
            try:
                holder = json.loads(data)
            except ValueError:
                holder = None
            if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int):
                problems.append(f"{entry}: does not parse: {data[:80]!r}")
    else:
        problems.append(f"{entry}: unexpected entry in the store")
    return None


def _check_run(path: Path, problems: list[str], figures: Figures) -> RunView:
    view = RunView(path, None, set(), {}, [])
    if _mode(path) != 0o700:
        problems.append(f"{path}: mode {_mode(path):o}, expected 700")
    for folder in (path, path / "state"):
        if not folder.is_dir() or folder.is_symlink():
            problems.append(f"{folder}: missing")
            continue
        for entry in sorted(folder.iterdir()):
            if folder == path and entry.name == "state" and entry.is_dir():
                continue
            _check_run_file(entry, folder == path, view, problems, figures)
    if view.checkpoint is None:
        problems.append(f"{path}: no checkpoint.json")
        return view
    cp = view.checkpoint
    if cp.workflow_id != path.name or cp.steps != STEP_NAMES or cp.total_steps != STEPS:
        problems.append(f"{path}/checkpoint.json: wrong identity {cp.workflow_id} {cp.steps}")
    if view.markers != set(range(len(view.markers))):
        problems.append(f"{path}: markers are not a prefix: {sorted(view.markers)}")
    for number in view.markers:
        state = view.states.get(number)
        if state is None or state.status.value != "completed":
            problems.append(f"{path}: step {number} has a marker but its state is {state}")
    recorded = set(cp.completed_steps)
    extra = recorded - view.markers
    _check_lag(path, view, recorded, problems, figures.lag_seconds)
    if len(extra) > 1 or any(
        n != len(view.markers) or view.states.get(n) is None for n in extra
    ):  # checkpoint.json is written just before the marker: one step ahead at most
        problems.append(f"{path}: checkpoint completed_steps {sorted(recorded)} run ahead")
    return view


#: How far checkpoint.json may lag the markers (docs/format.md): the steps committed within
#: CHECKPOINT_INTERVAL (0.1 s) of its last write, plus slack for a loaded machine.
LAG_SECONDS = 1.0


def _check_lag(
    path: Path, view: RunView, recorded: set[int], problems: list[str], lag: float = LAG_SECONDS
) -> None:
    """checkpoint.json lists every marker but those of the last steps, committed within about
    0.1 s of each other (it is rewritten when that much time passed, and when the run stops)."""
    lagging = view.markers - recorded
    if not lagging:
        return
    if lagging != set(range(min(lagging), len(view.markers))):
        problems.append(f"{path}: checkpoint lags markers {sorted(lagging)}, not the latest ones")
        return
    spans = []
    for number in lagging:
        state = view.states.get(number)
        epoch = getattr(state, "started_at_epoch", None) if state is not None else None
        if state is None or epoch is None:
            return  # a state without sub-second times (cannot measure): nothing to bound
        spans.append((epoch, epoch + (state.duration_seconds or 0.0)))
    first_start = min(s for s, _ in spans)
    last_end = max(e for _, e in spans)
    longest = max(e - s for s, e in spans)
    if last_end - first_start > lag + longest:
        problems.append(
            f"{path}: checkpoint.json lags markers {sorted(lagging)} over "
            f"{last_end - first_start:.2f} s (more than {lag:g} s of steps)"
        )


def _check_run_file(
    entry: Path, top: bool, view: RunView, problems: list[str], figures: Figures
) -> None:
    name = entry.name
    if entry.is_symlink() or not entry.is_file():
        problems.append(f"{entry}: not a regular file")
        return
    if _mode(entry) != 0o600:
        problems.append(f"{entry}: mode {_mode(entry):o}, expected 600")
    if _TEMP.match(name):
        figures.temp_files_seen += 1
        view.temps.append(entry)
        return
    data = entry.read_bytes()
    figures.files_checked += 1
    try:
        if top and name == "checkpoint.json":
            json.loads(data)
            view.checkpoint = Checkpoint.from_json(data, source=str(entry))
        elif top and (m := _MARKER.match(name)):
            lines = data.decode().splitlines()
            if not lines or not all(_MARKER_LINE.match(line) for line in lines):
                raise ValueError(f"not KEY=VALUE lines: {data[:80]!r}")
            marker = Marker.from_text(data, source=str(entry))
            number = int(m.group(1))
            if (number, STEP_NAMES[number], 0) != (marker.STEP, marker.NAME, marker.EXIT_CODE):
                raise ValueError(f"marker says {marker}")
            view.markers.add(number)
        elif not top and (m := _STATE.match(name)):
            json.loads(data)
            state = StepState.from_json(data, source=str(entry))
            number = int(m.group(1))
            if (state.step, state.name) != (number, STEP_NAMES[number]):
                raise ValueError(f"state says step {state.step} {state.name}")
            view.states[number] = state
        else:
            problems.append(f"{entry}: unexpected file")
    except (ValueError, CheckpointError) as exc:
        problems.append(f"{entry}: does not parse: {exc}")


def read_log(project: Path, offset: int) -> tuple[list[tuple[str, int, int]], int]:
    """Lines of effects.log after ``offset``: (begin|end, step, pid); and the new offset."""
    path = project / "effects.log"
    if not path.exists():
        return [], offset
    data = path.read_bytes()
    lines = []
    for raw in data[offset:].decode().splitlines():
        kind, step, pid = raw.split()
        lines.append((kind, int(step), int(pid)))
    return lines, len(data)


# -- one round ---------------------------------------------------------------------------


class Round:
    """One run of the workflow, killed and resumed until it completes."""

    def __init__(
        self, project: Path, rng: random.Random, figures: Figures, timing: dict[str, float]
    ) -> None:
        self.project = project
        self.store = project / ".checkpoints"
        self.rng = rng
        self.figures = figures
        self.timing = timing
        self.began: Counter[int] = Counter()
        self.offset = 0

    def plan(self, markers: int, fresh: bool) -> Plan:
        if self.figures.kills >= self.figures.target:
            return Plan()
        remaining = STEPS - markers
        startup = self.timing["startup_seconds"]
        body = max(self.timing["full_run_seconds"] - startup, 0.05) * remaining / STEPS
        delay = 0.3 * startup + (0.7 * startup + body) * self.rng.random() ** 2
        if self.rng.random() >= FAULT_SHARE:
            return Plan(delay=delay)
        # Atomic writes of one invocation: lock info (1-2), the new run's first checkpoint.json,
        # checkpoint.json at start, 4 per step, 1 at the end; 2 more for a store's .gitignore
        # and README. Skewed towards early writes (u squared): more kills per run, the end
        # still covered.
        writes = 4 + 4 * remaining + (3 if fresh else 0)
        stage = self.rng.choice(STAGES)
        fault = f"{stage}:{1 + int(writes * self.rng.random() ** 2)}"
        if stage in ("fsync", "dirsync"):
            # A write that skips this stage (a file that needs no fsync) never fires the
            # fault: a timer at a later random instant kills the invocation instead.
            backstop = 0.3 * startup + (0.7 * startup + body) * self.rng.random()
            return Plan(fault=fault, delay=backstop)
        return Plan(fault=fault)

    def play(self) -> bool:
        """Kill and resume until the run completes; False on a violation."""
        write_project(self.project)
        self.figures.rounds += 1
        for _ in range(MAX_INVOCATIONS):
            before, problems = check_store(self.store, self.figures)
            if problems:
                return self.fail("before an invocation", problems)
            marked = set(before.markers) if before else set()
            plan = self.plan(len(marked), fresh=not self.store.exists())
            argv = ["workflow", "--resume"] if before else ["workflow"]
            code, pid, out, err, timed_out = invoke(self.project, argv, plan)
            self.figures.invocations += 1
            after, problems = check_store(self.store, self.figures)
            problems += self.check_log(pid, marked, after)
            if code not in (0, KILLED):
                problems.append(f"`invoke {' '.join(argv)}` exited {code}: {err.strip()[-2000:]}")
            if problems:
                return self.fail(f"after `invoke {' '.join(argv)}` ({plan.kind})", problems)
            if code == KILLED:
                self.figures.kills += 1
                self.figures.kills_by["timed" if timed_out else plan.kind] += 1
                continue
            if plan.kind != "none":
                self.figures.survived += 1
                self.figures.survived_by[plan.kind] += 1
            problems = self.check_complete(after, out)
            if problems:
                return self.fail("after the run completed", problems)
            return True
        return self.fail("livelock", [f"no completion in {MAX_INVOCATIONS} invocations"])

    def check_log(self, pid: int, marked: set[int], after: RunView | None) -> list[str]:
        lines, self.offset = read_log(self.project, self.offset)
        problems = [f"effects.log: line from pid {p}, not {pid}" for _, _, p in lines if p != pid]
        begun = [step for kind, step, _ in lines if kind == "begin"]
        ended = [step for kind, step, _ in lines if kind == "end"]
        first = len(marked)
        if begun != list(range(first, first + len(begun))):
            problems.append(f"steps began {begun} after markers {sorted(marked)}")
        if ended != begun[: len(ended)] or len(ended) < len(begun) - 1:
            problems.append(f"steps began {begun} but ended {ended}")
        again = [step for step in begun if self.began[step]]
        if again and again != [first]:  # only the step in flight at the kill, first
            problems.append(f"steps {again} ran again (markers before: {sorted(marked)})")
        if marked & set(begun):
            self.figures.marked_reruns += len(marked & set(begun))
            problems.append(f"steps with a marker ran again: {sorted(marked & set(begun))}")
        self.began.update(begun)
        self.figures.reruns += len(again)
        self.figures.max_reruns_per_kill = max(self.figures.max_reruns_per_kill, len(again))
        now_marked = after.markers if after else set()
        if not marked <= now_marked:
            problems.append(f"markers disappeared: {sorted(marked - now_marked)}")
        if any(not self.began[step] for step in now_marked):
            problems.append(f"a marker for a step that never ran: {sorted(now_marked)}")
        return problems

    def check_complete(self, run: RunView | None, out: str) -> list[str]:
        if run is None or run.checkpoint is None:
            return ["exit 0 but no run"]
        cp = run.checkpoint
        problems = []
        if cp.status.value != "completed" or cp.current_step is not None:
            problems.append(f"final status {cp.status.value}, current step {cp.current_step}")
        if run.markers != set(range(STEPS)) or cp.completed_steps != list(range(STEPS)):
            problems.append(f"markers {sorted(run.markers)}, recorded {cp.completed_steps}")
        if set(self.began) != set(range(STEPS)):
            problems.append(f"steps that never ran: {sorted(set(range(STEPS)) - set(self.began))}")
        if run.temps:
            problems.append(f"temp files left after completion: {run.temps}")
        if any(_UNBORN.match(p.name) for p in self.store.iterdir()):
            problems.append("a half-created run directory was never swept")
        if any(p.name.startswith(".workflow.lock.json.") for p in self.store.iterdir()):
            problems.append("a temp file of workflow.lock.json was never swept")
        if not (self.store / ".gitignore").is_file() or not (self.store / "README.md").is_file():
            problems.append("the store has no .gitignore or README.md")
        if "completed" not in out:
            problems.append(f"output does not say completed: {out[-500:]}")
        return problems

    def fail(self, where: str, problems: list[str]) -> bool:
        tag = f"round {self.figures.rounds} {where}"
        self.figures.violations.extend(f"{tag}: {p}" for p in problems)
        self.figures.kept = str(self.project)
        return False


def run_matrix(
    kills: int, seed: int, workdir: Path, progress: Callable[[str], None] | None = None
) -> Figures:
    """Kill and resume rounds until ``kills`` kills; stops at the first violation."""
    figures = Figures(seed=seed, target=kills)
    rng = random.Random(seed)
    start = time.monotonic()
    figures.calibration = calibrate(workdir)
    shown = 0
    while figures.kills < kills or figures.rounds == 0:
        project = workdir / f"round{figures.rounds + 1:05d}"
        if not Round(project, rng, figures, figures.calibration).play():
            break
        shutil.rmtree(project)
        if progress is not None and figures.kills - shown >= 50:
            shown = figures.kills
            progress(
                f"{figures.kills}/{kills} kills, {figures.rounds} runs completed, "
                f"{figures.files_checked} files checked, {time.monotonic() - start:.0f}s"
            )
    figures.seconds = round(time.monotonic() - start, 1)
    return figures


# -- fuzz figures ------------------------------------------------------------------------


def run_fuzz(examples: int, log: Path) -> tuple[int, dict[str, Counter[str]]]:
    """Run the hypothesis suites with ``examples`` per test; returns (pytest exit, counts)."""
    env = child_env({"RELIABILITY_FUZZ_EXAMPLES": str(examples), "RELIABILITY_FUZZ_LOG": str(log)})
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=0",
            "tests/reliability/test_fuzz.py",
            "tests/reliability/test_stateful.py",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-5000:] + proc.stderr[-2000:])
    counts: dict[str, Counter[str]] = {}
    if log.exists():
        for line in log.read_text().splitlines():
            case = json.loads(line)
            counts.setdefault(case["suite"], Counter())[case["outcome"]] += 1
    return proc.returncode, counts


# -- report ------------------------------------------------------------------------------


def render_report(
    figures: Figures,
    command: str,
    fuzz: tuple[int, dict[str, Counter[str]]] | None,
    when: datetime | None = None,
) -> str:
    kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(figures.kills_by.items()))
    verdict = "no invariant violated" if not figures.violations else "VIOLATIONS FOUND"
    timed = figures.kills_by["timed"]
    rows = [
        ("kills (SIGKILL)", f"{figures.kills}"),
        ("… inside a checkpoint write (fault injection)", f"{figures.kills - timed}"),
        ("… timed, at a random instant", f"{timed}"),
        ("kills by kind", kinds),
        ("invocations of `invoke`", f"{figures.invocations}"),
        ("runs completed (20 steps each)", f"{figures.rounds}"),
        ("planned kills that came too late (run completed)", f"{figures.survived}"),
        ("store files parsed and cross-checked", f"{figures.files_checked}"),
        ("steps re-run after a kill (the step in flight)", f"{figures.reruns}"),
        ("most re-runs after one kill", f"{figures.max_reruns_per_kill}"),
        ("steps with a marker that ran again", f"{figures.marked_reruns}"),
        ("temp files seen after kills (swept on resume)", f"{figures.temp_files_seen}"),
        ("half-created run directories seen (swept)", f"{figures.unborn_dirs_seen}"),
        ("invariant violations", f"{len(figures.violations)}"),
        ("wall time", f"{figures.seconds:.0f} s"),
        ("seed", f"{figures.seed}"),
    ]
    lines = [
        "# Reliability: the crash matrix and the fuzzing figures",
        "",
        "Generated by `tests/reliability/harness.py`; reproduce with:",
        "",
        "```sh",
        command,
        "```",
        "",
        f"Add `--seed={figures.seed}` to replay the same random choices (the instants of the",
        "timed kills still depend on the machine). CI runs the short form, 50 kills, through",
        "`tests/reliability/test_crash_matrix.py` (`RELIABILITY_KILLS` changes the count).",
        "",
        f"Last run: {when or datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on "
        f"{platform.platform()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs. Result: **{verdict}**.",
        "",
        "## What the harness does",
        "",
        "A fresh project runs a real `invoke` workflow of 20 steps; each step appends",
        "`begin N pid` / `end N pid` to a side-effect log. Every invocation is SIGKILLed —",
        "inside a checkpoint write (`INVOKE_CHECKPOINTS_FAULT=<stage>:<n>` kills the process",
        "right after the write, fsync, rename or directory fsync of its n-th atomic write) or",
        "by a plain SIGKILL of its process group after a random delay (also the backstop of",
        "an fsync or directory-fsync fault aimed at a write that skips that stage; such a",
        "kill counts as timed) — and then resumed with",
        "`invoke workflow --resume`, until the run completes. After every invocation:",
        "",
        "- every file in the store parses (`json` and the pydantic models; markers as",
        "  `KEY=VALUE` lines) and agrees with the others (markers are a prefix, each has a",
        "  completed state file, `checkpoint.json` is at most one step ahead of the markers),",
        "  with modes 0700/0600;",
        "- no step that had a marker before the invocation began again;",
        "- at most one step that began before runs again per kill, and it is the first one run",
        "  (the step in flight when the process died);",
        "- a completed run has status `completed`, 20 markers, every step ran, and no temp",
        "  file or half-created run directory is left.",
        "",
        "## Crash matrix",
        "",
        "| figure | value |",
        "| --- | --- |",
        *[f"| {name} | {value} |" for name, value in rows],
        "",
        f"Timing used to aim the timed kills: a whole run took "
        f"{figures.calibration.get('full_run_seconds', 0):.2f} s, an invocation that does "
        f"nothing {figures.calibration.get('startup_seconds', 0):.2f} s.",
        "",
    ]
    if figures.violations:
        lines += ["### Violations", "", *[f"- {v}" for v in figures.violations[:50]], ""]
    if fuzz is not None:
        code, counts = fuzz
        lines += [
            "## Fuzzing and the stateful model (hypothesis)",
            "",
            "`tests/reliability/test_fuzz.py` damages `checkpoint.json`, a marker or a state",
            "file of a failed run (truncation, random bytes, NUL bytes, wrong types, missing",
            "keys, huge values, future versions); a fuzz case is one damaged copy, on which",
            "`status`, `list`, `--resume` and `clean --all` all run and must all refuse (exit 2,",
            "one line naming the file, nothing changed; `list` shows it `corrupt`) or all accept.",
            "`tests/reliability/test_stateful.py` drives start / complete / fail / kill (a real",
            "SIGKILL inside a write) / resume / clean against a model; a stateful case is one",
            "rule executed, each followed by `list --json` and `status --json` checked against",
            "the model.",
            "",
            "| suite | cases | outcomes |",
            "| --- | --- | --- |",
        ]
        for suite, outcome in sorted(counts.items()):
            detail = ", ".join(f"{k} {v}" for k, v in sorted(outcome.items()))
            lines.append(f"| {suite} | {sum(outcome.values())} | {detail} |")
        lines += ["", f"pytest exit code: {code} ({'passed' if code == 0 else 'FAILED'}).", ""]
    return "\n".join(lines)


def kept_sections(report: Path) -> str:
    """The hand-written "## Fault classes ..." sections at the end of an existing report
    (from the first such heading on), kept by every regeneration."""
    text = report.read_text() if report.exists() else ""
    at = text.find("\n## Fault classes")
    return text[at:].lstrip("\n") if at >= 0 else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs to make (default 50)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument("--workdir", type=Path, default=None, help="where rounds run")
    parser.add_argument("--report", type=Path, default=None, help="write a Markdown report")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument(
        "--fuzz-examples",
        type=int,
        default=None,
        help="also run the hypothesis suites with this many examples per test "
        "(default: 200 with --report, else 0)",
    )
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    fuzz_examples = args.fuzz_examples
    if fuzz_examples is None:
        fuzz_examples = 200 if args.report else 0
    command = f"python tests/reliability/harness.py --kills={args.kills}"
    if args.report:
        command += f" --report {args.report}"
    if args.fuzz_examples is not None:
        command += f" --fuzz-examples={fuzz_examples}"

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        progress(f"crash matrix: {args.kills} kills, seed {seed}, in {workdir}")
        figures = run_matrix(args.kills, seed, workdir, progress)
        if figures.kept and args.workdir is None:
            kept = Path(tempfile.mkdtemp(prefix="crash-matrix-"))
            shutil.copytree(figures.kept, kept / Path(figures.kept).name, symlinks=True)
            figures.kept = str(kept / Path(figures.kept).name)
        fuzz = None
        if fuzz_examples > 0:
            progress(f"fuzz suites: {fuzz_examples} examples per test")
            fuzz = run_fuzz(fuzz_examples, workdir / "fuzz-cases.jsonl")
    summary = (
        f"{figures.kills} kills ({dict(figures.kills_by)}), {figures.rounds} runs completed, "
        f"{figures.files_checked} files checked, {figures.reruns} re-runs, "
        f"{len(figures.violations)} violations in {figures.seconds}s (seed {seed})"
    )
    print(summary)
    for violation in figures.violations[:20]:
        print(f"  {violation}")
    if figures.kept:
        print(f"  the failing round is kept in {figures.kept}")
    if args.json:
        args.json.write_text(json.dumps(figures.as_json(), indent=2) + "\n")
    if args.report:
        sections = kept_sections(args.report)
        text = render_report(figures, command, fuzz) + "\n"
        args.report.write_text(text + ("\n" + sections if sections else ""))
    failed = bool(figures.violations) or (fuzz is not None and fuzz[0] != 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
