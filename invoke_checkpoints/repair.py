"""``<workflow>.repair``: rebuild a missing or corrupt checkpoint.json from markers and states.

The damaged file is kept beside it as ``checkpoint.json.corrupt-<timestamp>``; the markers
(the commit points) and state files are read, never changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import CheckpointError, CorruptCheckpointError
from .models import Checkpoint, RunStatus, StepState, utcnow
from .outcomes import metadata
from .store import run_started

if TYPE_CHECKING:
    from .steps import WorkflowDefinition
    from .store import RunDir

__all__ = ["RepairPlan", "plan_repair", "repair"]


@dataclass
class RepairPlan:
    """What repair would do to one run."""

    run_dir: RunDir
    #: Why checkpoint.json needs rebuilding; ``None`` when it is fine.
    problem: str | None
    rebuilt: Checkpoint | None
    notes: list[str]


def plan_repair(run_dir: RunDir, definition: WorkflowDefinition) -> RepairPlan:
    """Decide whether the run needs a new checkpoint.json and build it in memory."""
    try:
        run_dir.read_checkpoint()
    except CorruptCheckpointError as exc:  # a newer format version is not damage: it propagates
        problem = str(exc)
    else:
        return RepairPlan(run_dir, None, None, [])
    notes: list[str] = []
    steps = list(definition.step_names)
    done = {n for n in run_dir.marker_steps() if n < len(steps)}
    states: dict[int, StepState] = {}
    for number in range(len(steps)):
        try:
            state = run_dir.read_state(number)
        except CheckpointError as exc:
            notes.append(f"ignored unreadable {exc}")
            continue
        if state is not None:
            states[number] = state
    for number in sorted(done):
        marked = run_dir.read_marker(number)
        recorded = marked.NAME if marked is not None else steps[number]
        if recorded != steps[number]:
            raise CheckpointError(
                f"{run_dir.path}: marker of step {number} names {recorded!r} but workflow "
                f"{definition.name!r} has {steps[number]!r} there; this run belongs to another "
                "definition and cannot be repaired from this one",
                run_id=run_dir.run_id,
            )
    failed = any(s.status.value == "failed" for n, s in states.items() if n not in done)
    if len(done) == len(steps):
        status = RunStatus.COMPLETED
    else:
        status = RunStatus.FAILED if failed else RunStatus.INTERRUPTED
    started = run_started(run_dir.run_id)
    last = max(
        (s.completed_at or s.started_at or started for s in states.values()), default=started
    )
    current = next((n for n in range(len(steps)) if n not in done), None)
    rebuilt = Checkpoint(
        workflow_id=run_dir.run_id,
        workflow=definition.name,
        project_path=str(run_dir.path.parent.parent),
        started_at=started,
        last_checkpoint=last,
        status=status,
        completed_steps=sorted(done),
        current_step=current,
        total_steps=len(steps),
        steps=steps,
        metadata=metadata(),
        warnings=[f"checkpoint.json rebuilt by repair at {utcnow():%Y-%m-%dT%H:%M:%SZ}: {problem}"],
    )
    notes.append(
        f"{len(done)}/{len(steps)} steps complete (from markers), status {status.value}, "
        f"next step {current if current is not None else '-'}"
    )
    return RepairPlan(run_dir, problem, rebuilt, notes)


def repair(plan: RepairPlan) -> str | None:
    """Keep the damaged file, then write the rebuilt one atomically; returns the kept name."""
    if plan.rebuilt is None:
        return None
    path = plan.run_dir.checkpoint_path
    kept = None
    if os.path.lexists(path):
        kept = f"checkpoint.json.corrupt-{utcnow():%Y%m%dT%H%M%SZ}"
        os.replace(path, path.with_name(kept))
    plan.run_dir.write_checkpoint(plan.rebuilt)
    return kept
