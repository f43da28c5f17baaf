"""The inline SVG charts of ``<workflow>.report``: a run's timeline (Gantt) and the trends
across runs. Plain strings, every text escaped; no script, no external reference.

The time axis is compressed where nothing ran: a resume hours after a failure shows as a
narrow break labelled with the time skipped, so the attempts on both sides stay readable.
"""

from __future__ import annotations

import bisect
import math
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING

from ..plugins.formatting import format_duration

if TYPE_CHECKING:
    from ..store.timeline import Bar, RunTimeline, StepRow

__all__ = ["LABEL_WIDTH", "TimeScale", "gantt", "run_durations", "sparkline", "tooltip"]

LABEL_WIDTH = 240
CHART_WIDTH = 820
ROW = 20
BAR = 14
#: Width of a break in the time axis (an idle stretch, e.g. between a failure and its resume).
GAP_WIDTH = 28
#: Idle stretches longer than this share of the active time (and than 2 s) become breaks.
GAP_SHARE = 0.15
MIN_BAR = 3
MAX_LABEL = 34


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clock(epoch: float) -> str:
    """``2026-11-26 23:30:15.123 UTC``."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} UTC"


class TimeScale:
    """Unix time -> x pixels, linear over the active stretches, ``GAP_WIDTH`` per break."""

    def __init__(self, spans: list[tuple[float, float]], origin: float, width: float) -> None:
        merged: list[list[float]] = []
        for start, end in sorted([(origin, origin), *spans]):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        active = sum(e - s for s, e in merged) or 1.0
        threshold = max(2.0, GAP_SHARE * active)
        #: (time, x) knots of the piecewise linear map; breaks as (start, end) times.
        self.breaks: list[tuple[float, float]] = []
        kept = [merged[0]]
        for start, end in merged[1:]:
            if start - kept[-1][1] > threshold:
                self.breaks.append((kept[-1][1], start))
                kept.append([start, end])
            else:
                kept[-1][1] = end
        busy = sum(e - s for s, e in kept) or 1.0
        scale = max(width - GAP_WIDTH * len(self.breaks), width / 2) / busy
        self._times: list[float] = []
        self._xs: list[float] = []
        x = 0.0
        for i, (start, end) in enumerate(kept):
            if i:
                x += GAP_WIDTH
            self._times += [start, end]
            self._xs += [x, x + (end - start) * scale]
            x = self._xs[-1]
        self.width = x
        self.origin = origin

    def x(self, t: float) -> float:
        i = bisect.bisect_right(self._times, t)
        if i == 0:
            return 0.0
        if i >= len(self._times):
            return self._xs[-1]
        t0, t1, x0, x1 = self._times[i - 1], self._times[i], self._xs[i - 1], self._xs[i]
        return x0 if t1 == t0 else x0 + (t - t0) / (t1 - t0) * (x1 - x0)

    def ticks(self, count: int = 8) -> list[float]:
        """Times (of the active stretches) at round offsets from the origin."""
        total = sum(self._times[i + 1] - self._times[i] for i in range(0, len(self._times), 2))
        step = _nice(total / count) if total > 0 else 1.0
        found: list[float] = []
        for i in range(0, len(self._times), 2):
            start, end = self._times[i], self._times[i + 1]
            k = math.ceil((start - self.origin) / step - 1e-9)
            while self.origin + k * step <= end + 1e-9:
                found.append(self.origin + k * step)
                k += 1
        return found


def _tick_label(seconds: float) -> str:
    return f"{round(seconds, 3):g}s" if seconds < 60 else format_duration(seconds)


def _nice(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def tooltip(bar: Bar, attempts: int, origin: float, error: list[str]) -> str:
    """The hover text of one attempt (also its row in the table)."""
    lines = [f"step {bar.step} {bar.name} — attempt {bar.attempt} of {attempts}"]
    outcome = bar.status
    if bar.exit_code is not None and bar.status != "completed":
        outcome += f", exit code {bar.exit_code}"
    if bar.reason:
        outcome += f" ({bar.reason})"
    lines.append(outcome)
    if bar.start is not None:
        lines.append(f"started {clock(bar.start)} (+{format_duration(bar.start - origin)})")
    if bar.open_ended:
        lines.append("duration: not recorded (the process stopped during the step)")
    else:
        lines.append(f"duration {format_duration(bar.duration)}")
    if error:
        lines.append("error:")
        lines.extend(error)
    return "\n".join(lines)


def _spans(run: RunTimeline) -> list[tuple[float, float]]:
    return [(b.start, b.end or b.start) for s in run.steps for b in s.bars if b.start is not None]


def gantt(run: RunTimeline, errors: dict[tuple[int, int], list[str]]) -> tuple[str, str]:
    """The axis and the body of a run's timeline, as two SVGs (the body scrolls under the
    axis). ``errors``: the error lines shown per (step, attempt)."""
    scale = TimeScale(_spans(run), run.started, CHART_WIDTH)
    width = LABEL_WIDTH + CHART_WIDTH + 10
    axis = [f'<svg class="axis" width="{width}" height="24" role="img" aria-label="time axis">']
    for t in scale.ticks():
        x = LABEL_WIDTH + scale.x(t)
        label = _tick_label(t - run.started)
        axis.append(
            f'<line x1="{x:.1f}" y1="16" x2="{x:.1f}" y2="24"/>'
            f'<text x="{x:.1f}" y="12" text-anchor="middle">{escape(label)}</text>'
        )
    axis.append("</svg>")
    height = ROW * len(run.steps) + 4
    body = [
        f'<svg class="gantt" width="{width}" height="{height}" role="img" '
        f'aria-label="timeline of run {escape(run.run_id)}">'
    ]
    body.extend(_group_bands(run, width))
    for start, end in scale.breaks:
        x0, x1 = LABEL_WIDTH + scale.x(start), LABEL_WIDTH + scale.x(end)
        body.append(
            f'<rect class="break" x="{x0:.1f}" y="0" width="{x1 - x0:.1f}" height="{height}">'
            f"<title>nothing ran for {escape(format_duration(end - start))}</title></rect>"
        )
    for row, step in enumerate(run.steps):
        body.extend(_row(step, row, scale, run.started, errors))
    body.append("</svg>")
    return "".join(axis), "".join(body)


def _group_bands(run: RunTimeline, width: int) -> list[str]:
    rows = {s.number: i for i, s in enumerate(run.steps)}
    out = []
    for n, members in enumerate(run.groups, start=1):
        top = min(rows[m] for m in members) * ROW
        bottom = (max(rows[m] for m in members) + 1) * ROW
        out.append(
            f'<rect class="group" x="0" y="{top}" width="{width}" height="{bottom - top}">'
            f"<title>parallel group {n}: steps {', '.join(map(str, members))}</title></rect>"
            f'<line class="group-edge" x1="3" y1="{top + 2}" x2="3" y2="{bottom - 2}"/>'
        )
    return out


def _row(
    step: StepRow,
    row: int,
    scale: TimeScale,
    origin: float,
    errors: dict[tuple[int, int], list[str]],
) -> list[str]:
    y = row * ROW
    label = f"{step.number:>3} {step.name}"
    weight = ' class="critical"' if step.critical else ""
    out = [
        f'<text x="10" y="{y + 14}"{weight}>{escape(_clip(label, MAX_LABEL))}'
        f"<title>{escape(label.strip())}: {escape(step.status)}</title></text>"
    ]
    attempts = step.bars[-1].attempt if step.bars else 0
    for bar in step.bars:
        if bar.start is None:
            continue
        x0 = scale.x(bar.start)
        x1 = scale.x(bar.end or bar.start)
        w = max(x1 - x0, MIN_BAR)
        classes = ["attempt", bar.status]
        if step.critical and bar is step.bars[-1]:
            classes.append("on-path")
        if bar.open_ended:
            classes.append("open")
        text = tooltip(bar, attempts, origin, errors.get((bar.step, bar.attempt), []))
        out.append(
            f'<rect class="{" ".join(classes)}" data-step="{bar.step}" '
            f'data-attempt="{bar.attempt}" x="{LABEL_WIDTH + x0:.1f}" y="{y + 3}" '
            f'width="{w:.1f}" height="{BAR}" rx="2"><title>{escape(text)}</title></rect>'
        )
    return out


def run_durations(runs: list[RunTimeline]) -> str:
    """Duration of each run (oldest left), coloured by its status."""
    if not runs:
        return ""
    longest = max(r.duration_seconds for r in runs) or 1.0
    slot = max(min(60, CHART_WIDTH // len(runs)), 8)
    height, width = 160, slot * len(runs) + 60
    out = [
        f'<svg class="runs" width="{width}" height="{height + 20}" role="img" '
        'aria-label="duration of each run">'
        f'<text x="0" y="12">{escape(format_duration(longest))}</text>'
        f'<line x1="56" y1="4" x2="56" y2="{height}"/>'
    ]
    for i, run in enumerate(runs):
        h = max(run.duration_seconds / longest * (height - 8), 2)
        x = 60 + i * slot
        title = (
            f"{run.run_id}\n{run.status}, {format_duration(run.duration_seconds)}\n"
            f"{sum(s.status == 'completed' for s in run.steps)}/{len(run.steps)} steps complete"
        )
        out.append(
            f'<rect class="attempt {escape(run.status)}" data-run="{escape(run.run_id)}" '
            f'x="{x}" y="{height - h:.1f}" width="{slot - 4}" height="{h:.1f}">'
            f"<title>{escape(title)}</title></rect>"
        )
        if slot >= 28:
            out.append(
                f'<text x="{x + (slot - 4) / 2:.1f}" y="{height + 14}" '
                f'text-anchor="middle">{i + 1}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def sparkline(values: list[float | None], statuses: list[str]) -> str:
    """A step's duration across runs (oldest left): a line, one dot per run it ran in."""
    width, height = 120, 22
    known = [v for v in values if v is not None]
    if not known:
        return ""
    top = max(known) or 1.0
    step = width / max(len(values) - 1, 1)
    points = []
    dots = []
    for i, (value, status) in enumerate(zip(values, statuses, strict=True)):
        if value is None:
            continue
        x, y = i * step if len(values) > 1 else width / 2, height - 3 - value / top * (height - 6)
        points.append(f"{x:.0f},{y:.0f}")
        dots.append(f'<circle class="{escape(status)}" cx="{x:.0f}" cy="{y:.0f}" r="2"/>')
    line = f'<polyline points="{" ".join(points)}"/>' if len(points) > 1 else ""
    return (
        f'<svg class="spark" width="{width + 4}" height="{height}" aria-hidden="true">'
        f"{line}{''.join(dots)}</svg>"
    )
