"""A run as a timeline: every attempt of every step, with its time, for ``<workflow>.report``.

Read with the fast readers (no pydantic for a healthy run), on top of the status document, so
that each step's final outcome is exactly what ``status`` shows (markers win; a ``running``
state of a run whose process is gone is ``interrupted``). Runs written by format 1.0 have no
sub-second start times and no earlier attempts: they show what they have (start times to the
second, only the latest attempt of each step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError
from .reading import parse_timestamp
from .status import run_status
from .vocabulary import RunStatus, StepStatus

if TYPE_CHECKING:
    from .runs import RunDir, Store

__all__ = ["Bar", "RunTimeline", "StepRow", "Unreadable", "critical_steps", "load_runs"]


@dataclass(frozen=True)
class Bar:
    """One attempt of one step."""

    step: int
    name: str
    #: 1 for the first attempt of the step in this run.
    attempt: int
    status: str
    #: Unix time; ``None`` when the attempt recorded no start.
    start: float | None
    duration: float | None
    exit_code: int | None = None
    reason: str | None = None
    error: str | None = None
    #: The duration was not recorded (the process stopped mid-step): drawn up to the run's end.
    open_ended: bool = False

    @property
    def end(self) -> float | None:
        if self.start is None:
            return None
        return self.start + (self.duration or 0.0)


@dataclass
class StepRow:
    """A step: its final status (as ``status`` shows it) and its attempts, oldest first."""

    number: int
    name: str
    status: str
    group: int | None
    bars: list[Bar] = field(default_factory=list)
    #: Its final attempt sets the end of its stage (see ``critical_steps``).
    critical: bool = False


@dataclass
class RunTimeline:
    workflow: str
    run_id: str
    status: str
    version: str
    #: Unix times; ``finished`` is ``None`` while running.
    started: float
    finished: float | None
    duration_seconds: float
    steps: list[StepRow]
    groups: list[list[int]]
    warnings: list[str]
    #: The groups' steps ran concurrently (``--parallel``, as last run).
    parallel: bool = False

    @property
    def attempts(self) -> int:
        return sum(len(s.bars) for s in self.steps)


@dataclass(frozen=True)
class Unreadable:
    """A run ``--last=N`` could not read: shown as such instead of failing the report."""

    run_id: str
    reason: str


def _start(doc: dict[str, Any]) -> float | None:
    precise = doc.get("started_at_epoch")
    if isinstance(precise, (int, float)) and not isinstance(precise, bool):
        return float(precise)
    text = doc.get("started_at")
    if isinstance(text, str):
        try:
            return parse_timestamp(text).timestamp()
        except ValueError:
            return None
    return None


def _earlier(step: int, name: str, state: dict[str, Any]) -> list[Bar]:
    """The attempts before the latest, numbered back from it: a step that started in format
    1.0 has fewer earlier attempts recorded than it made."""
    previous = state.get("previous_attempts") or []
    first = max(int(state.get("attempts") or 1) - len(previous), 1)
    bars = []
    for n, attempt in enumerate(previous, start=first):
        bars.append(
            Bar(
                step=step,
                name=name,
                attempt=n,
                status=str(attempt.get("status")),
                start=_start(attempt),
                duration=attempt.get("duration_seconds"),
                exit_code=attempt.get("exit_code"),
                reason=attempt.get("reason"),
                error=attempt.get("error"),
            )
        )
    return bars


def _final(
    row: dict[str, Any], state: dict[str, Any] | None, marker: dict[str, Any] | None, end: float
) -> Bar | None:
    """The latest attempt, with the status ``status`` reconciled for it."""
    status = row["status"]
    if status == "pending" or (state is None and marker is None):
        return None
    start = _start(state) if state else None
    duration = row["duration_seconds"]
    if start is None and marker is not None and duration is not None:
        start = parse_timestamp(marker["COMPLETED_AT"]).timestamp() - duration
    open_ended = False
    if duration is None and start is not None:
        duration, open_ended = max(end - start, 0.0), True
    return Bar(
        step=row["number"],
        name=row["name"],
        attempt=int(state.get("attempts") or 1) if state else 1,
        status=status,
        start=start,
        duration=duration,
        exit_code=row["exit_code"],
        reason=row["reason"],
        error=row["error"],
        open_ended=open_ended,
    )


def load_run(store: Store, workflow: str, run_dir: RunDir) -> RunTimeline:
    """One run's timeline; ``CheckpointError`` for a damaged run, as ``status`` would say."""
    doc = run_status(store, workflow, run_dir)
    cp = run_dir.checkpoint_doc(check_files=False)
    started = _start(cp) or 0.0
    running = doc["status"] == RunStatus.RUNNING.value
    finished = None
    if not running and doc["finished_at"]:
        finished = parse_timestamp(doc["finished_at"]).timestamp()
    duration = doc["duration_seconds"]
    run_end = started + duration
    groups = [list(g["steps"]) for g in cp["parallel_execution"]["groups"]]
    group_of = {n: i for i, members in enumerate(groups) for n in members}
    steps = []
    done = run_dir.marker_steps()
    for row in doc["steps"]:
        number = row["number"]
        state = run_dir.state_doc(number) if row["status"] != "pending" else None
        marker = run_dir.marker_doc(number) if number in done and state is None else None
        bars = _earlier(number, row["name"], state) if state else []
        final = _final(row, state, marker, run_end)
        if final is not None:
            bars.append(final)
        steps.append(StepRow(number, row["name"], row["status"], group_of.get(number), bars))
    timeline = RunTimeline(
        workflow=workflow,
        run_id=run_dir.run_id,
        status=doc["status"],
        version=str(cp["version"]),
        started=started,
        finished=finished,
        duration_seconds=_precise(duration, started, steps, cp, running),
        steps=steps,
        groups=groups,
        warnings=list(doc["warnings"]),
        parallel=bool(cp["parallel_execution"]["enabled"]),
    )
    for number in critical_steps(timeline):
        steps[number].critical = True
    return timeline


def _precise(
    duration: float, started: float, steps: list[StepRow], cp: dict[str, Any], running: bool
) -> float:
    """The run's duration as ``status`` says it (whole seconds apart), or to the sub-second
    when the run recorded sub-second start times: up to the end of its last attempt."""
    ends = [b.end for s in steps for b in s.bars if b.end is not None]
    if running or cp.get("started_at_epoch") is None or not ends:
        return duration
    return round(max(max(ends) - started, 0.0), 3)


def critical_steps(run: RunTimeline) -> list[int]:
    """The steps whose final attempt ends their stage, stage by stage: the chain that sets the
    run's duration. A stage is one step, or a parallel group run with ``--parallel``, whose
    step that ended last is on the path (without ``--parallel`` its steps run one after the
    other: each is a stage). Skipped and never-run steps are not on it."""
    timed = {
        s.number: s.bars[-1]
        for s in run.steps
        if s.bars and s.bars[-1].start is not None and s.status != StepStatus.SKIPPED.value
    }
    groups = run.groups if run.parallel else []
    grouped = {n for members in groups for n in members}
    stages = [[n] for n in range(len(run.steps)) if n not in grouped] + groups
    path: list[int] = []
    for members in stages:
        bars = [timed[n] for n in members if n in timed]
        if bars:
            path.append(max(bars, key=lambda b: (b.end or 0.0, -b.step)).step)
    return sorted(path)


def load_runs(
    store: Store, workflow: str, run_ids: list[str], *, strict: bool
) -> list[RunTimeline | Unreadable]:
    """Timelines of ``run_ids`` in that order; with ``strict`` a damaged run raises, without
    it the run is listed as :class:`Unreadable`."""
    found: list[RunTimeline | Unreadable] = []
    for run_id in run_ids:
        try:
            found.append(load_run(store, workflow, store.run(workflow, run_id)))
        except CheckpointError as exc:
            if strict:
                raise
            found.append(Unreadable(run_id, str(exc)))
    return found
