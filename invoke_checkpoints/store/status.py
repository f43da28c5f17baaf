"""The status of a run as one JSON-ready document (rendered as text by ``cli/render.py``).

The document's keys are a public contract (``invoke <workflow>.status --json``); see
docs/format.md, "status --json".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .reading import parse_timestamp
from .redaction import redact_text
from .vocabulary import RunStatus, StepStatus, utcnow

if TYPE_CHECKING:
    from .runs import RunDir, Store

__all__ = ["command_name", "effective_status", "live_child", "resume_command", "run_status"]


def effective_status(
    recorded: str, run_id: str, active: str | None, run_dir: RunDir | None = None
) -> str:
    """``running`` on disk but ``active`` (the lock holder's run) is another or none: the
    process died, so the run is interrupted -- unless a step's child process it left behind
    still runs (``live_child``): then the run is still ``running``."""
    if recorded == RunStatus.RUNNING.value and active != run_id:
        if run_dir is not None and live_child(run_dir) is not None:
            return recorded
        return RunStatus.INTERRUPTED.value
    return recorded


def live_child(run_dir: RunDir) -> int | None:
    """The pid of a step's child process that outlived the invocation that ran the step."""
    from ..errors import CheckpointError
    from .processes import group_alive

    for number in sorted(run_dir.state_steps() - run_dir.marker_steps()):
        try:
            state = run_dir.state_doc(number)
        except CheckpointError:
            continue
        if not state or state.get("status") != StepStatus.RUNNING.value:
            continue
        pid, started = state.get("child_pid"), state.get("child_started")
        if isinstance(pid, int) and group_alive(pid, started if isinstance(started, int) else None):
            return pid
    return None


def command_name(workflow: str, *, auto_dash: bool = True) -> str:
    """The workflow's task name as Invoke spells it on the command line.

    Invoke's ``Collection.transform``: with ``tasks.auto_dash_names`` (the default) every
    underscore but a leading or trailing one becomes a dash (``my_flow`` -> ``my-flow``);
    without it, dashes become underscores.
    """
    old, new = ("_", "-") if auto_dash else ("-", "_")
    if len(workflow) <= 2:
        return workflow
    return workflow[0] + workflow[1:-1].replace(old, new) + workflow[-1]


def resume_command(workflow: str, run_id: str | None = None, *, auto_dash: bool = True) -> str:
    """The command that resumes ``run_id`` (the latest without): every printed hint uses it."""
    name = command_name(workflow, auto_dash=auto_dash)
    return f"invoke {name} --resume" + (f"={run_id}" if run_id else "")


def _from_marker(run_dir: RunDir, number: int, state: dict[str, Any] | None) -> dict[str, Any]:
    """A marked step's state whose final write a power cut lost (only a state holding nothing
    but what its marker records is written without fsync): completed, as the marker says."""
    marker = run_dir.marker_doc(number) or {}
    return {
        **(state or {}),
        "status": StepStatus.COMPLETED.value,
        "duration_seconds": marker.get("DURATION_SECONDS"),
        "exit_code": 0,
        "reason": None,
        "errors": [],  # an earlier failed attempt's state may be what the power cut left
    }


def run_status(
    store: Store, workflow: str, run_dir: RunDir, *, auto_dash: bool = True
) -> dict[str, Any]:
    """Everything ``status`` shows about one run, reconciled with the markers on disk.

    Read with the fast readers (``reading.py``): no pydantic for a healthy run.
    """
    cp = run_dir.checkpoint_doc(check_files=False)
    states = run_dir.check_files(cp["steps"])
    done = run_dir.marker_steps()
    status = effective_status(cp["status"], run_dir.run_id, store.active_run(workflow), run_dir)
    running = RunStatus.RUNNING.value
    steps: list[dict[str, Any]] = []
    for number, name in enumerate(cp["steps"]):
        state = states.get(number)
        if number in done:
            if state is None or state["status"] != StepStatus.COMPLETED.value:
                state = _from_marker(run_dir, number, state)
            step_status = StepStatus.COMPLETED.value
        elif state is None:
            step_status = "pending"
        elif state["status"] == StepStatus.RUNNING.value and status != running:
            step_status = StepStatus.INTERRUPTED.value
        elif state["status"] == StepStatus.COMPLETED.value:
            step_status = "pending"  # state written, marker not: it never committed
        else:
            step_status = state["status"]
        steps.append(
            {
                "number": number,
                "name": name,
                "status": step_status,
                "duration_seconds": state["duration_seconds"] if state else None,
                "exit_code": state["exit_code"] if state else None,
                "reason": state["reason"] if state else None,
                # Redacted again: a run recorded by an older version stored it in clear.
                "error": (redact_text(state["errors"][-1]) if state and state["errors"] else None),
            }
        )
    started = parse_timestamp(cp["started_at"])
    end = cp["finished_at"] if status != running else None
    elapsed = ((parse_timestamp(end) if end else utcnow()) - started).total_seconds()
    current: int | None = next(
        (int(s["number"]) for s in steps if s["status"] != "completed"), None
    )
    if status == RunStatus.COMPLETED.value:
        current = None
    return {
        "workflow": cp["workflow"],
        "run_id": run_dir.run_id,
        "path": str(run_dir.path),
        "status": status,
        "completed": len(done),
        "total": cp["total_steps"],
        "current_step": current,
        "current_step_name": cp["steps"][current] if current is not None else None,
        "started_at": cp["started_at"],
        "last_checkpoint": cp["last_checkpoint"],
        "finished_at": cp["finished_at"],
        "duration_seconds": round(max(elapsed, 0.0), 3),
        "active_seconds": round(
            sum(float(s["duration_seconds"] or 0.0) for s in steps if s["status"] != "skipped"), 3
        ),
        "size_bytes": run_dir.size_bytes(),
        "steps": steps,
        "warnings": list(cp["warnings"]),
        "resume_command": (
            None
            if status in (RunStatus.COMPLETED.value, running)
            else resume_command(cp["workflow"], run_dir.run_id, auto_dash=auto_dash)
        ),
    }
