"""Text rendering of the read-only commands: ``status`` and ``list``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..plugins.formatting import describe_exit, format_duration, human_size, paint

if TYPE_CHECKING:
    from ..store.maintenance import RunSummary

__all__ = ["error_lines", "render_list", "render_status"]

#: A failed step's error is shown by its last lines (the report shows the same).
ERROR_LINES = 10


def error_lines(error: str | None) -> list[str]:
    """The lines of a step's error that ``status`` (and the report) shows."""
    return error.splitlines()[-ERROR_LINES:] if error else []


def render_status(doc: dict[str, Any]) -> str:
    """The status document as aligned text."""
    current = doc["current_step"]
    where = "-" if current is None else f"{current} ({doc['current_step_name']})"
    lines = [
        f"run:              {doc['run_id']}",
        f"status:           {doc['status']}",
        f"progress:         {doc['completed']}/{doc['total']} steps complete",
        f"current step:     {where}",
        f"started:          {doc['started_at']}",
        f"last checkpoint:  {doc['last_checkpoint']}",
        f"{'elapsed' if doc['status'] == 'running' else 'duration'}:{' ' * 9}{_durations(doc)}",
        f"size on disk:     {human_size(doc['size_bytes'])}",
        "",
    ]
    width = max(len(s["name"]) for s in doc["steps"])
    for s in doc["steps"]:
        detail = ""
        if s["status"] in ("failed", "interrupted") and s["exit_code"] is not None:
            detail = describe_exit(s["exit_code"])
        elif s["status"] == "skipped" and s["reason"]:
            detail = s["reason"]
        lines.append(
            f"  {s['number']:>3}  {s['name']:<{width}}  {s['status']:<11}  "
            f"{format_duration(s['duration_seconds']):>8}  {detail}".rstrip()
        )
    for s in doc["steps"]:
        if s["status"] in ("failed", "interrupted") and s["error"]:
            tail = error_lines(s["error"])
            lines.extend(["", f"step {s['number']} ({s['name']}) {s['status']}:"])
            lines.extend(f"  | {line}" for line in tail)
    for warning in doc["warnings"]:
        lines.append(f"warning: {warning}")
    if doc["resume_command"]:
        lines.extend(["", f"resume with: {doc['resume_command']}"])
    return "\n".join(lines)


def _durations(doc: dict[str, Any]) -> str:
    """Wall-clock time, and the time steps ran when idle time (a failure waiting for its
    resume) makes them differ."""
    wall, active = doc["duration_seconds"], doc.get("active_seconds")
    text = format_duration(wall)
    if active is not None and wall is not None and wall - active >= max(1.0, 0.1 * wall):
        text += f" ({format_duration(active)} running steps)"
    return text


def render_list(rows: list[RunSummary], *, color: bool) -> str:
    """Aligned table of runs."""
    header = ("RUN", "STATUS", "STARTED", "DURATION", "STEPS", "SIZE")
    table = [header]
    for r in rows:
        steps = f"{r.completed}/{r.total if r.total is not None else '?'}"
        table.append(
            (
                r.run_id,
                r.status,
                r.started_at or "-",
                format_duration(r.duration_seconds),
                steps,
                human_size(r.size_bytes),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for n, row in enumerate(table):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        if n and color:
            cells[1] = paint(cells[1], row[1])
        lines.append("  ".join(cells).rstrip())
    for r in rows:
        if r.reason:
            lines.append(f"{r.run_id}: {r.status}: {r.reason}")
    return "\n".join(lines)
