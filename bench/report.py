"""Targets of the issue and the printed table."""

from __future__ import annotations

from typing import Any

__all__ = ["TARGETS", "render_table"]

#: Upper bounds from the issue (performance round 2), in the order of the table; ``beside``:
#: a variant shown next to the figure that has the target, with no target of its own.
TARGETS: dict[str, dict[str, Any]] = {
    "P1": {"max": 1.5, "unit": "x raw durable write"},
    "P1_nofsync": {"max": None, "beside": "P1", "unit": "x raw durable write"},
    "P1b": {"max": 1.2, "unit": "x plain invoke per task"},
    "P1b_fsync": {"max": None, "beside": "P1b", "unit": "x plain invoke per task"},
    "P2a": {"max": 1.10, "unit": "x --list without the plugin"},
    "P2b": {"max": 1.5, "unit": "x --list"},
    "P3": {"max": 20.0, "unit": "ms"},
    "P4": {"max": 1.5, "unit": "x per-step overhead at 50 steps"},
    "P4_nofsync": {"max": 1.5, "unit": "x per-step overhead at 50 steps"},
    "P5": {"max": 1.25, "unit": "s"},
    "M1": {"max": 1.2, "unit": "x peak RSS of --list"},
    "P6": {"max": 60.0, "unit": "ms"},
    "P6_nofsync": {"max": None, "beside": "P6", "unit": "ms"},
    "P7": {"max": 1.2, "unit": "x plain invoke re-running every task"},
    "P7_nofsync": {"max": None, "beside": "P7", "unit": "x plain invoke re-running every task"},
    "P7_floor": {"max": None, "beside": "P7", "unit": "x plain invoke re-running every task"},
    "P7_floor_nofsync": {
        "max": None,
        "beside": "P7",
        "unit": "x plain invoke re-running every task",
    },
}
_MS = ("P3", "P6", "P6_nofsync")


def _value(key: str, value: float | None) -> str:
    if value is None:
        return "n/a (parallel groups not implemented)" if key == "P5" else "n/a"
    if key in _MS:
        return f"{value:.1f} ms"
    if key == "P5":
        return f"{value:.2f} s"
    return f"{value:.2f}x"


def _target(key: str) -> str:
    spec = TARGETS[key]
    if spec["max"] is None:
        return f"(beside {spec['beside']})"
    return f"<= {_value(key, spec['max'])}"


def _verdict(key: str, value: float | None) -> str:
    bound = TARGETS[key]["max"]
    if value is None or bound is None:
        return ""
    return "ok" if value <= bound else "OVER"


def _p1_notes(doc: dict[str, Any]) -> dict[str, str]:
    d, p = doc["details"], doc["params"]
    notes: dict[str, str] = {}
    for suffix, name, b in (("", "P1", "P1b_fsync"), ("_nofsync", "P1_nofsync", "P1b")):
        if doc[name] is None:
            continue
        wf, plain = d[f"workflow_ms_per_step{suffix}"], d["plain_ms_per_task"]
        notes[name] = (
            f"{d[f'overhead_ms_per_step{suffix}']:.3f} ms/step = workflow {wf:.3f} - plain "
            f"{plain:.3f} (N {p['n_small']}->{p['n_big']})"
        )
        notes[b] = f"{wf:.3f} / {plain:.3f} ms (N {p['n_small']}->{p['n_big']})"
    return notes


def _notes(doc: dict[str, Any]) -> dict[str, str]:
    """For each measured figure, the medians it comes from."""
    d, p = doc["details"], doc["params"]
    lo, hi = str(p["p4_low"]), str(p["p4_high"])
    notes = _p1_notes(doc)
    if doc["P2a"] is not None:
        notes["P2a"] = f"{d['list_plugin_ms']:.0f} / {d['list_plain_ms']:.0f} ms"
    if doc["P2b"] is not None:
        notes["P2b"] = f"{d['status_ms']:.0f} / {d['list_plugin_ms']:.0f} ms"
    if doc["P3"] is not None:
        notes["P3"] = (
            f"{d['resume_many_ms']:.0f} - {d['resume_one_ms']:.0f} ms ({p['p3_runs']:,} runs vs "
            f"1; Store.latest in-process {d.get('P3_latest_ms', float('nan')):.1f} ms)"
        )
    for name in ("P4", "P4_nofsync"):
        if doc[name] is not None:
            over = d[f"{name}_overhead_ms_per_step"]
            notes[name] = f"{over[hi]:.3f} / {over[lo]:.3f} ms/step ({hi} vs {lo} steps)"
    group = f"group of {p['p5_steps']} x sleep {p['p5_sleep']} s"
    notes["P5"] = (
        f"{d['median_seconds']['p5_group']:.3f} - {d['median_seconds']['p5_baseline']:.3f} s "
        f"({group}, --parallel, minus a 1-step workflow)"
        if doc["P5"] is not None
        else f"{group} with --parallel"
    )
    if doc["M1"] is not None:
        notes["M1"] = (
            f"{d['M1_workflow_peak_rss_mib']:.1f} / {d['M1_list_peak_rss_mib']:.1f} MiB "
            f"({p['m1_steps']:,} steps; workflow {d['m1_workflow_ms'] / 1000:.1f} s)"
        )
    n = p["n_small"]
    for suffix in ("", "_nofsync"):
        if doc["P6" + suffix] is not None:
            wf, plain = d[f"wf{n}{suffix}_ms"], d[f"plain{n}_ms"]
            notes["P6" + suffix] = f"{wf:.0f} - {plain:.0f} ms ({n} steps vs {n} plain tasks)"
        if doc["P7" + suffix] is not None:
            resume, plain = d[f"p7_resume{suffix}_ms"], d["p7_plain_ms"]
            notes["P7" + suffix] = (
                f"{resume:.0f} / {plain:.0f} ms (--resume of {p['p7_steps']} steps failed at "
                f"step {p['p7_fail']} vs plain invoke of all {p['p7_steps']})"
            )
        if doc.get("P7_floor" + suffix) is not None:
            floor, plain = d[f"p7_floor{suffix}_ms"], d["p7_plain_ms"]
            notes["P7_floor" + suffix] = (
                f"{floor:.0f} / {plain:.0f} ms (only the tasks, state files and "
                f"{'markers' if suffix else 'durable markers'}: the floor of P7{suffix})"
            )
    return notes


def _others(doc: dict[str, Any]) -> list[str]:
    d, p = doc["details"], doc["params"]
    plain = d.get("plain_ms_per_task")
    lines = []
    for tool, result in doc["others"].items():
        if "ms_per_task" in result:
            beside = f"; plain invoke {plain:.3f}" if plain is not None else ""
            lines.append(
                f"{tool}: {result['ms_per_task']:.3f} ms per no-op task (N {p['n_small']}"
                f"->{p['n_big']}{beside}; {result['state']})"
            )
        else:
            lines.append(f"{tool}: skipped ({result['skipped']})")
    return lines


def render_table(doc: dict[str, Any]) -> str:
    """The results as an aligned text table, each measured figure beside its target."""
    p, m, d = doc["params"], doc["machine"], doc["details"]
    notes = _notes(doc)
    rows = [("metric", "value", "target", "", "from (medians of each command)")]
    for key in doc.get("selected", TARGETS):
        value = doc[key]
        rows.append((key, _value(key, value), _target(key), _verdict(key, value), notes[key]))
    # P5's "n/a (...)" may overflow its column rather than widen it for every row.
    widths = [max(len(r[i]) for r in rows if r[0] != "P5") for i in range(4)]
    lines = [
        f"invoke-checkpoints bench ({doc['mode']}): {m['nproc']} CPUs, Python {m['python']}, "
        f"invoke {m['invoke']}, commit {m['commit'] or '?'}",
        f"{p['reps']} rounds ({p['cheap_reps']} at {p['n_big']} steps, {p['small_reps']} at "
        f"{p['n_small']}/{p['p4_low']} steps and for --list/status, {p['p3_reps']} for P3, "
        f"{p['p7_reps']} for P7, {p['big_reps']} at "
        f"{p['p4_high']} steps, {p['m1_reps']} for M1); figures are medians of per-round "
        f"differences/ratios; load avg {m['loadavg'][0]:.2f} -> {m['loadavg_end'][0]:.2f}",
        f"raw durable write: {doc['raw_write_ms']:.3f} ms (write+fsync+rename+fsync dir, "
        f"200 B; batch medians {d['raw_write_ms_batches'][0]:.3f} / "
        f"{d['raw_write_ms_batches'][1]:.3f})",
        "",
    ]
    for row in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(row[:4])]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    if "P1_vs_linear_plain" in d:
        lines += [
            "",
            f"P1 against plain invoke's per-task cost over {p['n_small']}->{p['p4_low']} tasks "
            f"({d['plain_ms_per_task_linear']:.3f} ms): {d['P1_vs_linear_plain']:.2f}x"
            + (
                f" (fsync off: {d['P1_nofsync_vs_linear_plain']:.2f}x)"
                if "P1_nofsync_vs_linear_plain" in d
                else ""
            ),
        ]
    others = _others(doc)
    return "\n".join([*lines, *(["", *others] if others else [])])
