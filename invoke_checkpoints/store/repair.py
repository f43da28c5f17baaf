"""``<workflow>.repair``: rebuild a damaged run from the files that are still sound.

A missing or corrupt checkpoint.json is rebuilt from the markers and state files. A corrupt
state file is moved aside. A corrupt marker is rewritten from its step's state file when that
says the step completed; otherwise it is moved aside and the step runs again. Every damaged
file is kept beside the original as ``<name>.corrupt-<timestamp>``; new files are written
atomically, checkpoint.json first, so a repair that is itself killed can simply be run again.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import CheckpointError, CorruptCheckpointError
from .records import Checkpoint, Marker, StepState, metadata
from .runs import marker_name, run_started, state_name
from .vocabulary import RunStatus, StepStatus, utcnow

if TYPE_CHECKING:
    from pathlib import Path

    from .runs import RunDir

__all__ = ["FileFix", "RepairPlan", "plan_repair", "repair"]


@dataclass
class FileFix:
    """A damaged marker or state file: kept aside, and replaced by ``data`` unless ``None``."""

    #: The file's name in its run (``step_02.complete``, ``state/step_02_state.json``).
    name: str
    path: Path
    data: bytes | None
    #: What is wrong with it.
    why: str


@dataclass
class RepairPlan:
    """What repair would do to one run."""

    run_dir: RunDir
    #: Why the run needs repairing; ``None`` when every file is sound.
    problem: str | None
    rebuilt: Checkpoint | None
    notes: list[str]
    fixes: list[FileFix] = field(default_factory=list)
    #: checkpoint.json itself is missing or corrupt (it is kept aside before the rewrite).
    checkpoint_damaged: bool = False


def plan_repair(run_dir: RunDir, workflow: str, step_names: list[str]) -> RepairPlan:
    """Decide what the run needs and build the new files in memory; nothing is written."""
    cp: Checkpoint | None
    try:
        cp = run_dir.read_checkpoint(check_files=False)
        problem = None
    except CorruptCheckpointError as exc:  # a newer format version is not damage: it propagates
        cp, problem = None, str(exc)
    steps = list(cp.steps) if cp is not None else list(step_names)
    notes: list[str] = []
    fixes: list[FileFix] = []
    states = _sound_states(run_dir, steps, notes, fixes)
    done = _sound_markers(run_dir, steps, states, notes, fixes, trust_names=cp is not None)
    if cp is not None and not fixes:
        return RepairPlan(run_dir, None, None, [])
    problem = problem or fixes[0].why
    current = next((n for n in range(len(steps)) if n not in done), None)
    if cp is None:
        rebuilt = _rebuild(run_dir, workflow, steps, done, states, problem)
    else:
        rebuilt = copy.deepcopy(cp)
        rebuilt.completed_steps = sorted(done)
        rebuilt.current_step = current
        if rebuilt.status is RunStatus.COMPLETED and current is not None:
            rebuilt.status = RunStatus.INTERRUPTED
        rebuilt.warnings.append(f"repaired at {utcnow():%Y-%m-%dT%H:%M:%SZ}: {problem}")
    notes.append(
        f"{len(done)}/{len(steps)} steps complete (from markers), status "
        f"{rebuilt.status.value}, next step {current if current is not None else '-'}"
    )
    return RepairPlan(run_dir, problem, rebuilt, notes, fixes, checkpoint_damaged=cp is None)


def _sound_states(
    run_dir: RunDir, steps: list[str], notes: list[str], fixes: list[FileFix]
) -> dict[int, StepState]:
    states: dict[int, StepState] = {}
    for number in sorted(run_dir.state_steps()):
        name = f"state/{state_name(number)}"
        path = run_dir.where(name)
        try:
            state = run_dir.read_state(number)
        except CorruptCheckpointError as exc:
            why = str(exc)
        else:
            if state is None or (number < len(steps) and state.name == steps[number]):
                if state is not None:
                    states[number] = state
                continue
            why = f"{path}: records step {number} as {state.name!r}, not a step of this run"
        fixes.append(FileFix(name, path, None, why))
        notes.append(f"{why}; fix: keep it aside as {path.name}.corrupt-<timestamp>")
    return states


def _sound_markers(
    run_dir: RunDir,
    steps: list[str],
    states: dict[int, StepState],
    notes: list[str],
    fixes: list[FileFix],
    *,
    trust_names: bool,
) -> set[int]:
    done: set[int] = set()
    for number in sorted(run_dir.marker_steps()):
        name = marker_name(number)
        path = run_dir.where(name)
        expected = steps[number] if number < len(steps) else None
        try:
            marked = run_dir.read_marker(number)
        except CorruptCheckpointError as exc:
            why = str(exc)
        else:
            if marked is None or (number, expected) == (marked.STEP, marked.NAME):
                done.add(number)
                continue
            if not trust_names and number == marked.STEP and expected is not None:
                raise CheckpointError(
                    f"{run_dir.path}: marker of step {number} names {marked.NAME!r} but the "
                    f"workflow has {expected!r} there; this run belongs to another definition "
                    "and cannot be repaired from this one",
                    run_id=run_dir.run_id,
                )
            why = f"{path}: records step {marked.STEP} ({marked.NAME!r}), not this step"
        state = states.get(number)
        if (
            state is not None
            and state.status is StepStatus.COMPLETED
            and state.completed_at is not None
            and state.duration_seconds is not None
        ):
            marker = Marker(
                STEP=number,
                NAME=state.name,
                COMPLETED_AT=state.completed_at,
                DURATION_SECONDS=state.duration_seconds,
            )
            fixes.append(FileFix(name, path, marker.to_text(), why))
            notes.append(f"{why}; fix: rewrite it from {state_name(number)} (completed)")
            done.add(number)
        else:
            fixes.append(FileFix(name, path, None, why))
            notes.append(f"{why}; fix: keep it aside, step {number} will run again")
    return done


def _rebuild(
    run_dir: RunDir,
    workflow: str,
    steps: list[str],
    done: set[int],
    states: dict[int, StepState],
    problem: str,
) -> Checkpoint:
    failed = any(s.status is StepStatus.FAILED for n, s in states.items() if n not in done)
    if len(done) == len(steps):
        status = RunStatus.COMPLETED
    else:
        status = RunStatus.FAILED if failed else RunStatus.INTERRUPTED
    started = run_started(run_dir.run_id)
    last = max(
        (s.completed_at or s.started_at or started for s in states.values()), default=started
    )
    return Checkpoint(
        workflow_id=run_dir.run_id,
        workflow=workflow,
        project_path=str(run_dir.path.parent.parent),
        started_at=started,
        last_checkpoint=last,
        status=status,
        completed_steps=sorted(done),
        current_step=next((n for n in range(len(steps)) if n not in done), None),
        total_steps=len(steps),
        steps=steps,
        metadata=metadata(),
        warnings=[f"checkpoint.json rebuilt by repair at {utcnow():%Y-%m-%dT%H:%M:%SZ}: {problem}"],
    )


def _keep(run_dir: RunDir, name: str, stamp: str, *, move: bool) -> str:
    """Keep the damaged file ``name`` as ``<name>.corrupt-<stamp>[-N]``; returns that name."""
    backend = run_dir.backend
    for n in range(1, 1000):
        kept = f"{name}.corrupt-{stamp}" + (f"-{n}" if n > 1 else "")
        if backend.kind(run_dir.key(kept)) is not None:
            continue
        backend.keep_aside(run_dir.key(name), run_dir.key(kept), move=move)
        return kept.rpartition("/")[2]
    path = run_dir.where(name)
    raise CheckpointError(f"{path}: too many damaged copies kept beside it", path=path)


def repair(plan: RepairPlan) -> str | None:
    """Write the rebuilt checkpoint.json, then fix the damaged files; returns the name the
    damaged checkpoint.json is kept under (``None`` when it was sound or missing)."""
    if plan.rebuilt is None:
        return None
    stamp = f"{utcnow():%Y%m%dT%H%M%SZ}"
    run_dir = plan.run_dir
    backend = run_dir.backend
    kept = None
    if plan.checkpoint_damaged and backend.kind(run_dir.key("checkpoint.json")) is not None:
        kept = _keep(run_dir, "checkpoint.json", stamp, move=False)
    run_dir.write_checkpoint(plan.rebuilt)
    for fix in plan.fixes:
        if backend.kind(run_dir.key(fix.name)) is None:
            continue
        _keep(run_dir, fix.name, stamp, move=fix.data is None)
        if fix.data is not None:
            backend.replace(run_dir.key(fix.name), fix.data, durable=True)
    with contextlib.suppress(OSError):
        run_dir.sweep_temp_files()
    return kept
