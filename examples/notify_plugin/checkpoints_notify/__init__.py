"""invoke-checkpoints-notify: append every workflow event to a JSON-lines log.

Installed, it is found through its ``invoke_checkpoints`` entry point; nothing to configure.
The log is ``$CHECKPOINTS_NOTIFY_LOG`` when that is set, else ``events.jsonl`` inside the run
directory (so it is kept, and cleaned, with the run). A run without a directory
(``checkpoints.enabled: false``) is logged only when ``CHECKPOINTS_NOTIFY_LOG`` is set.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke_checkpoints import hookimpl

if TYPE_CHECKING:
    from invoke_checkpoints import RunInfo, StepInfo, StepState

__all__ = ["LOG_ENV", "LOG_NAME", "log_path"]

#: Environment variable naming the log file (absolute, or relative to the working directory).
LOG_ENV = "CHECKPOINTS_NOTIFY_LOG"
#: The log's name inside the run directory when ``LOG_ENV`` is not set.
LOG_NAME = "events.jsonl"


def log_path(run: RunInfo) -> Path | None:
    """Where events of ``run`` are appended; ``None`` when there is nowhere to write."""
    configured = os.environ.get(LOG_ENV, "").strip()
    if configured:
        return Path(configured).expanduser().resolve()
    return run.path / LOG_NAME if run.path is not None else None


def _append(run: RunInfo, event: str, step: StepInfo | None = None, **fields: Any) -> None:
    path = log_path(run)
    if path is None:
        return
    record: dict[str, Any] = {
        "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "event": event,
        "workflow": run.name,
        "workflow_id": run.workflow_id or None,
        "pid": os.getpid(),
    }
    if step is not None:
        record.update(step=step.number, step_name=step.name)
    record.update(fields)
    line = (json.dumps(record, default=str) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write() on an O_APPEND descriptor: lines from several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


@hookimpl
def checkpoints_environment(run: RunInfo) -> dict[str, Any]:
    """Stored in checkpoint.json as ``environment.notify``: where this run's events go."""
    path = log_path(run)
    return {"log": str(path) if path is not None else None}


@hookimpl
def checkpoints_workflow_start(run: RunInfo) -> None:
    _append(run, "workflow_start", steps=list(run.steps))


@hookimpl
def checkpoints_step_start(run: RunInfo, step: StepInfo) -> None:
    _append(run, "step_start", step)


@hookimpl
def checkpoints_step_complete(run: RunInfo, step: StepInfo, state: StepState) -> None:
    _append(run, "step_complete", step, duration_seconds=state.duration_seconds)


@hookimpl
def checkpoints_step_failed(
    run: RunInfo, step: StepInfo, state: StepState, error: BaseException
) -> None:
    _append(
        run,
        "step_failed",
        step,
        status=state.status.value,
        exit_code=state.exit_code,
        error=_first_line(error),
    )


@hookimpl
def checkpoints_step_skipped(run: RunInfo, step: StepInfo, reason: str) -> None:
    _append(run, "step_skipped", step, reason=reason)


@hookimpl
def checkpoints_workflow_finish(run: RunInfo, status: str) -> None:
    _append(run, "workflow_finish", status=status)
