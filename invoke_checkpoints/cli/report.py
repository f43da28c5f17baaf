"""``invoke <workflow>.report``: one self-contained HTML file with the timeline of a run (or of
the newest N runs, with their trends).

Nothing in the page is fetched when it is viewed: CSS and SVG are inline, there is no script,
no font and no link outside the page. Every text from a run (step names, reasons, errors) is
escaped. The charts are in ``report_svg.py``; what a run holds is read by
``store/timeline.py``.
"""

from __future__ import annotations

import sys
import time
from html import escape
from typing import TYPE_CHECKING

from ..errors import CheckpointError
from ..plugins.formatting import format_duration
from ..store.history import median
from ..store.timeline import RunTimeline, Unreadable, load_runs
from ..store.vocabulary import FORMAT_VERSION
from .render import error_lines
from .report_svg import clock, gantt, run_durations, sparkline

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from invoke import Context

    from ..run.definition import WorkflowDefinition
    from ..store.runs import Store

__all__ = ["build_page", "open_in_browser", "report_command", "write_report"]

#: Above this many steps a run's table starts collapsed (the timeline scrolls anyway).
TABLE_OPEN_LIMIT = 200
#: A step is flagged slower when its latest duration exceeds the median of the earlier runs
#: by this share and by at least ``SLOWER_SECONDS``.
SLOWER_SHARE = 0.25
SLOWER_SECONDS = 0.05

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
h3{font-size:15px;margin:18px 0 6px}.muted{color:#59636e}
.facts{display:flex;flex-wrap:wrap;gap:4px 18px;margin:6px 0 10px;padding:0;list-style:none}
.badge{padding:1px 8px;border-radius:10px;color:#fff;font-weight:600}
.scroll{max-height:70vh;overflow:auto;border:1px solid #d0d7de;width:fit-content;max-width:100%}
.axis{display:block;position:sticky;top:0;z-index:1;background:#f6f8fa;
border-bottom:1px solid #d0d7de}
.axis line{stroke:#8c959f}.axis text,svg text{font-size:12px;fill:#1f2328}
.gantt{display:block}.gantt text.critical{font-weight:700}
.group{fill:#eaf1fb}.group-edge{stroke:#4a78c2;stroke-width:3}
.break{fill:#f2f2f2;stroke:#8c959f;stroke-dasharray:3 3}
.attempt.completed,.badge.completed,i.completed{fill:#2e9e5b;background:#2e9e5b}
.attempt.failed,.badge.failed,i.failed{fill:#d1333a;background:#d1333a}
.attempt.interrupted,.badge.interrupted,i.interrupted{fill:#d98b00;background:#d98b00}
.attempt.skipped,.badge.skipped,i.skipped{fill:#98a2ad;background:#98a2ad}
.attempt.running,.badge.running,i.running{fill:#2f6fdb;background:#2f6fdb}
.attempt.open{fill-opacity:.55}.attempt.on-path{stroke:#111;stroke-width:2}
.attempt:hover{fill-opacity:.75}
.legend{margin:8px 0;font-size:13px}.legend span{margin-right:14px;white-space:nowrap}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;
vertical-align:-1px}.legend i.path{background:#fff;border:2px solid #111;width:9px;height:9px}
.legend i.group{background:#eaf1fb;border-left:3px solid #4a78c2;width:9px}
.legend i.gap{background:#f2f2f2;border:1px dashed #8c959f;width:10px;height:10px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top;
white-space:nowrap}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.failed,td.interrupted{color:#b3261e;font-weight:600}td.slower{color:#b3261e;font-weight:600}
pre{margin:0;white-space:pre-wrap;font-size:12px;max-width:60ch}
.spark polyline{fill:none;stroke:#59636e;stroke-width:1.2}
.spark circle.completed{fill:#2e9e5b}.spark circle.failed{fill:#d1333a}
.spark circle.interrupted{fill:#d98b00}.spark circle.running{fill:#2f6fdb}
.runs line{stroke:#8c959f}details{margin:8px 0}summary{cursor:pointer}
"""

_LEGEND = (
    '<p class="legend">'
    + "".join(
        f'<span><i class="{s}"></i>{s}</span>'
        for s in ("completed", "failed", "interrupted", "skipped", "running")
    )
    + '<span><i class="path"></i>critical path (bold names)</span>'
    + '<span><i class="group"></i>parallel group</span>'
    + '<span><i class="gap"></i>nothing ran (time cut)</span></p>'
)


def _errors(run: RunTimeline) -> dict[tuple[int, int], list[str]]:
    """The error lines of each failed or interrupted attempt, cut as ``status`` cuts them."""
    return {
        (b.step, b.attempt): error_lines(b.error)
        for s in run.steps
        for b in s.bars
        if b.error and b.status in ("failed", "interrupted")
    }


def _facts(run: RunTimeline) -> str:
    complete = sum(s.status == "completed" for s in run.steps)
    retried = sum(len(s.bars) > 1 for s in run.steps)
    items = [
        f'<span class="badge {escape(run.status)}">{escape(run.status)}</span>',
        f"started {escape(clock(run.started))}",
        f"duration {escape(format_duration(run.duration_seconds))}",
        f"{complete}/{len(run.steps)} steps complete",
        f"{run.attempts} attempts ({retried} step{'s' if retried != 1 else ''} ran more than once)",
        f"format {escape(run.version)}",
    ]
    lis = "".join(f"<li>{item}</li>" for item in items)
    notes = []
    if run.version.split(".")[:2] < FORMAT_VERSION.split(".")[:2]:
        notes.append(
            f"Written in format {escape(run.version)}: start times to the second, and only "
            "the latest attempt of each step (earlier ones were not recorded)."
        )
    notes.extend(f"warning: {escape(w)}" for w in run.warnings)
    return f'<ul class="facts">{lis}</ul>' + "".join(
        f'<p class="muted">{note}</p>' for note in notes
    )


def _table(run: RunTimeline, errors: dict[tuple[int, int], list[str]]) -> str:
    head = (
        "<tr><th>step</th><th>name</th><th>attempt</th><th>status</th><th>started (UTC)</th>"
        "<th>offset</th><th>duration</th><th>exit code</th><th>reason</th><th>error</th></tr>"
    )
    rows = []
    for step in run.steps:
        if not step.bars:
            rows.append(
                f'<tr><td class="num">{step.number}</td><td>{escape(step.name)}</td>'
                f"<td></td><td>{escape(step.status)}</td>" + "<td></td>" * 6 + "</tr>"
            )
            continue
        total = step.bars[-1].attempt
        for bar in step.bars:
            error = errors.get((bar.step, bar.attempt))
            started = clock(bar.start)[:-4] if bar.start is not None else ""
            offset = format_duration(bar.start - run.started) if bar.start is not None else ""
            duration = "not recorded" if bar.open_ended else format_duration(bar.duration)
            code = "" if bar.exit_code is None else str(bar.exit_code)
            cells = [
                f'<td class="num">{bar.step}</td>',
                f"<td>{'<b>' if step.critical else ''}{escape(bar.name)}"
                f"{'</b>' if step.critical else ''}</td>",
                f'<td class="num">{bar.attempt}/{total}</td>',
                f'<td class="{escape(bar.status)}">{escape(bar.status)}</td>',
                f"<td>{escape(started)}</td>",
                f'<td class="num">{escape(offset)}</td>',
                f'<td class="num">{escape(duration)}</td>',
                f'<td class="num">{code}</td>',
                f"<td>{escape(bar.reason or '')}</td>",
                f"<td>{'<pre>' + escape(chr(10).join(error)) + '</pre>' if error else ''}</td>",
            ]
            rows.append("<tr>" + "".join(cells) + "</tr>")
    table = f"<table><caption class=muted>every attempt, by step</caption>{head}{''.join(rows)}"
    table += "</table>"
    if len(run.steps) > TABLE_OPEN_LIMIT:
        return f"<details><summary>table of {len(run.steps)} steps</summary>{table}</details>"
    return table


def _run_section(run: RunTimeline, *, heading: str) -> str:
    errors = _errors(run)
    axis, body = gantt(run, errors)
    return (
        f'<section class="run" id="{escape(run.run_id)}">'
        f"<{heading}>run {escape(run.run_id)}</{heading}>{_facts(run)}{_LEGEND}"
        f'<div class="scroll">{axis}{body}</div>{_table(run, errors)}</section>'
    )


def _final(run: RunTimeline) -> dict[str, tuple[float | None, str]]:
    found = {}
    for step in run.steps:
        if step.bars and step.status != "skipped":
            bar = step.bars[-1]
            found[step.name] = (None if bar.open_ended else bar.duration, step.status)
    return found


def _trends(runs: list[RunTimeline]) -> str:
    """Across runs, oldest first: each run's duration and outcome, each step's durations."""
    rows = []
    for i, run in enumerate(runs, start=1):
        failures = sum(b.status in ("failed", "interrupted") for s in run.steps for b in s.bars)
        rows.append(
            f'<tr><td class="num">{i}</td><td><a href="#{escape(run.run_id)}">'
            f'{escape(run.run_id)}</a></td><td class="{escape(run.status)}">'
            f"{escape(run.status)}</td><td>{escape(clock(run.started)[:-8])}</td>"
            f'<td class="num">{escape(format_duration(run.duration_seconds))}</td>'
            f'<td class="num">{sum(s.status == "completed" for s in run.steps)}/'
            f'{len(run.steps)}</td><td class="num">{run.attempts}</td>'
            f'<td class="num">{failures}</td></tr>'
        )
    runs_table = (
        "<table><tr><th>#</th><th>run</th><th>status</th><th>started (UTC)</th>"
        "<th>duration</th><th>steps complete</th><th>attempts</th><th>failed attempts</th>"
        f"</tr>{''.join(rows)}</table>"
    )
    finals = [_final(run) for run in runs]
    names: list[str] = []
    for run in reversed(runs):
        names.extend(s.name for s in run.steps if s.name not in names)
    step_rows = []
    for name in names:
        values = [f.get(name, (None, ""))[0] for f in finals]
        statuses = [f.get(name, (None, ""))[1] for f in finals]
        step_rows.append(_trend_row(name, values, statuses))
    steps_table = (
        "<table><tr><th>step</th><th>duration per run (oldest left)</th><th>first</th>"
        f"<th>latest</th><th>median</th><th>latest vs before</th></tr>{''.join(step_rows)}"
        "</table>"
    )
    if len(names) > TABLE_OPEN_LIMIT:
        steps_table = f"<details><summary>{len(names)} steps</summary>{steps_table}</details>"
    return (
        f"<h2>Across the last {len(runs)} runs</h2><h3>Duration and outcome of each run</h3>"
        f"{run_durations(runs)}{runs_table}<h3>Duration of each step, run by run</h3>"
        f"{steps_table}"
    )


def _trend_row(name: str, values: list[float | None], statuses: list[str]) -> str:
    known = [v for v in values if v is not None]
    latest = values[-1]
    earlier = [v for v in values[:-1] if v is not None]
    change, flag = "", ""
    if latest is not None and earlier:
        before = median(earlier)
        if before:
            share = (latest - before) / before
            change = f"{share:+.0%}"
            if share > SLOWER_SHARE and latest - before >= SLOWER_SECONDS:
                flag = ' class="num slower"'
    cells = [
        f"<td>{escape(name)}</td>",
        f"<td>{sparkline(values, statuses)}</td>",
        f'<td class="num">{format_duration(known[0]) if known else "-"}</td>',
        f'<td class="num">{format_duration(latest)}</td>',
        f'<td class="num">{format_duration(median(known)) if known else "-"}</td>',
        f"<td{flag or ' class=num'}>{change}</td>",
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def build_page(workflow: str, entries: list[RunTimeline | Unreadable]) -> str:
    """The whole HTML document; ``entries`` newest first."""
    runs = [e for e in entries if isinstance(e, RunTimeline)]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(workflow)}: workflow report</title><style>{_CSS}</style></head><body>",
        f"<h1>Workflow {escape(workflow)}</h1>",
        f'<p class="muted">report of {len(entries)} run(s), generated '
        f"{escape(clock(time.time())[:-8])} UTC by invoke-checkpoints. Hover a bar for its "
        "details; the table under each timeline holds the same facts.</p>",
    ]
    if len(entries) > 1:
        parts.append(_trends(list(reversed(runs))))
        parts.append("<h2>Timelines, newest first</h2>")
    for entry in entries:
        if isinstance(entry, Unreadable):
            parts.append(
                f"<p><b>run {escape(entry.run_id)}</b>: unreadable: {escape(entry.reason)}</p>"
            )
        elif len(entries) == 1:
            parts.append(_run_section(entry, heading="h2"))
        else:
            opened = " open" if entry is runs[0] else ""
            parts.append(
                f"<details{opened}><summary>run {escape(entry.run_id)}: "
                f"{escape(entry.status)}, {escape(format_duration(entry.duration_seconds))}"
                f"</summary>{_run_section(entry, heading='h3')}</details>"
            )
    parts.append("</body></html>\n")
    return "".join(parts)


def write_report(
    store: Store,
    workflow: str,
    path: Path,
    *,
    run_id: str | None,
    last: int | None,
    mode: int,
    ensure: Callable[[], None] | None = None,
) -> int:
    """Write the report of run ``run_id`` (default: the latest) or of the newest ``last``
    runs to ``path``; returns how many runs it shows. ``ensure`` creates the default
    output's directory, once there is something to write."""
    from ..store.atomic import write_file

    if run_id is not None and last is not None:
        raise CheckpointError("--run and --last contradict each other: give one of them")
    if last is not None and last < 1:
        raise CheckpointError(f"--last must be >= 1, got {last}")
    if last is None:
        ids = [store.find(workflow, run_id).run_id]
    else:
        ids = store.newest(workflow, last)
        if not ids:
            raise CheckpointError(f"no runs of workflow {workflow!r} yet (store: {store.root})")
    entries = load_runs(store, workflow, ids, strict=last is None)
    if ensure is not None:
        ensure()
    if not path.parent.is_dir():
        raise CheckpointError(f"cannot write {path}: {path.parent} is not a directory")
    try:
        write_file(path, build_page(workflow, entries).encode(), durable=False, mode=mode)
    except OSError as exc:
        raise CheckpointError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(entries)


def open_in_browser(path: Path) -> bool:
    """``--open``: the report in the default browser (``$BROWSER`` is honoured)."""
    import webbrowser

    return webbrowser.open(path.resolve().as_uri())


def report_command(
    c: Context,
    definition: WorkflowDefinition,
    *,
    run_id: str | None,
    last: int | None,
    output: str | None,
    open_it: bool,
) -> None:
    """``invoke <workflow>.report``: write the HTML report (``cli/report.py``), print its path."""
    import functools
    from pathlib import Path

    from ..store.atomic import PRIVATE_MODES, SHARED_MODES
    from .commands import settings_store, user_errors

    with user_errors(definition):
        settings, store = settings_store(c, definition)
        name = f"{definition.name}-report.html"
        ensure: Callable[[], None] | None = None
        if output:
            path = Path(output).expanduser().absolute()
        elif isinstance(settings.dir, Path):
            path, ensure = settings.dir / name, store.ensure
        else:  # a remote store: the report is a local file all the same
            path = settings.root / ".checkpoints" / name
            ensure = functools.partial(path.parent.mkdir, mode=0o700, exist_ok=True)
        mode = (SHARED_MODES if settings.shared else PRIVATE_MODES)[1]
        write_report(
            store, definition.name, path, run_id=run_id, last=last, mode=mode, ensure=ensure
        )
        print(path)
        if open_it and not open_in_browser(path):
            print(f"invoke-checkpoints: no browser to open {path} with", file=sys.stderr)
