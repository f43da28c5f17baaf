"""Targets of the issue and the printed table."""

from __future__ import annotations

from typing import Any

__all__ = ["TARGETS", "render_table"]

#: Upper bounds from the issue (``goal``: the final goal where one was given).
TARGETS: dict[str, dict[str, Any]] = {
    "P1": {"max": 3.0, "goal": 1.5, "unit": "x raw durable write"},
    "P1_nofsync": {"max": 3.0, "goal": 1.5, "unit": "x raw durable write"},
    "P1b": {"max": 1.0, "unit": "x plain invoke per task"},
    "P1b_fsync": {"max": None, "unit": "x plain invoke per task"},
    "P2a": {"max": 1.10, "unit": "x --list without the plugin"},
    "P2b": {"max": 1.5, "unit": "x --list"},
    "P3": {"max": 20.0, "unit": "ms"},
    "P4": {"max": 1.5, "unit": "x per-step overhead at 50 steps"},
    "P4_nofsync": {"max": 1.5, "unit": "x per-step overhead at 50 steps"},
    "P5": {"max": 1.25, "unit": "s"},
}


def _value(key: str, value: float | None) -> str:
    if value is None:
        return "n/a (parallel groups not implemented)" if key == "P5" else "n/a"
    if key == "P3":
        return f"{value:.1f} ms"
    if key == "P5":
        return f"{value:.2f} s"
    return f"{value:.2f}x"


def _target(key: str) -> str:
    spec = TARGETS[key]
    if spec["max"] is None:
        return "(beside P1b)"
    bound = _value(key, spec["max"])
    return f"<= {bound}" + (f", goal {_value(key, spec['goal'])}" if "goal" in spec else "")


def _verdict(key: str, value: float | None) -> str:
    bound = TARGETS[key]["max"]
    if value is None or bound is None:
        return ""
    return "ok" if value <= bound else "OVER"


def _notes(doc: dict[str, Any]) -> dict[str, str]:
    d = doc["details"]
    p = doc["params"]
    n, lo, hi = f"{p['n_small']}->{p['n_big']}", p["p4_low"], p["p4_high"]
    over, over_off = d["P4_overhead_ms_per_step"], d["P4_nofsync_overhead_ms_per_step"]
    return {
        "P1": f"{d['overhead_ms_per_step']:.3f} ms/step = workflow {d['workflow_ms_per_step']:.3f}"
        f" - plain {d['plain_ms_per_task']:.3f} (N {n})",
        "P1_nofsync": f"{d['overhead_ms_per_step_nofsync']:.3f} ms/step = workflow "
        f"{d['workflow_ms_per_step_nofsync']:.3f} - plain {d['plain_ms_per_task']:.3f}",
        "P1b": f"{d['workflow_ms_per_step_nofsync']:.3f} / {d['plain_ms_per_task']:.3f} ms",
        "P1b_fsync": f"{d['workflow_ms_per_step']:.3f} / {d['plain_ms_per_task']:.3f} ms",
        "P2a": f"{d['list_plugin_ms']:.0f} / {d['list_plain_ms']:.0f} ms",
        "P2b": f"{d['status_ms']:.0f} / {d['list_plugin_ms']:.0f} ms",
        "P3": f"{d['resume_many_ms']:.0f} - {d['resume_one_ms']:.0f} ms "
        f"({p['p3_runs']:,} runs vs 1; Store.latest in-process "
        f"{d.get('P3_latest_ms', float('nan')):.1f} ms)",
        "P4": f"{over[str(hi)]:.3f} / {over[str(lo)]:.3f} ms/step ({hi} vs {lo} steps)",
        "P4_nofsync": f"{over_off[str(hi)]:.3f} / {over_off[str(lo)]:.3f} ms/step",
        "P5": (
            f"{d['P5_process_s']:.3f} - {d['P5_baseline_s']:.3f} s (group of {p['p5_steps']} x "
            f"sleep {p['p5_sleep']} s, --parallel, minus a 1-step workflow)"
            if doc["P5"] is not None
            else f"group of {p['p5_steps']} x sleep {p['p5_sleep']} s with --parallel"
        ),
    }


def render_table(doc: dict[str, Any]) -> str:
    """The results as an aligned text table, each figure beside its target."""
    p, m, d = doc["params"], doc["machine"], doc["details"]
    notes = _notes(doc)
    rows = [("metric", "value", "target", "", "from (medians of each command)")]
    for key in TARGETS:
        value = doc[key]
        rows.append((key, _value(key, value), _target(key), _verdict(key, value), notes[key]))
    # P5's "n/a (...)" may overflow its column rather than widen it for every row.
    widths = [max(len(r[i]) for r in rows if r[0] != "P5") for i in range(4)]
    lines = [
        f"invoke-checkpoints bench ({doc['mode']}): {m['nproc']} CPUs, Python {m['python']}, "
        f"invoke {m['invoke']}, commit {m['commit'] or '?'}",
        f"{p['reps']} rounds ({p['cheap_reps']} for sub-second commands, {p.get('small_reps', '')}"
        f" at {p['n_small']}/{p['p4_low']} steps, {p['big_reps']} at "
        f"{p['p4_high']} steps); figures are medians of per-round differences/ratios; "
        f"load avg {m['loadavg'][0]:.2f} -> {m['loadavg_end'][0]:.2f}",
        f"raw durable write: {doc['raw_write_ms']:.3f} ms (write+fsync+rename+fsync dir, "
        f"200 B; batch medians {d['raw_write_ms_batches'][0]:.3f} / "
        f"{d['raw_write_ms_batches'][1]:.3f})",
        "",
    ]
    for row in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(row[:4])]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    lines.append("")
    lines.append(
        f"P1 against plain invoke's linear per-task cost ({p['n_small']}->{p['p4_low']} tasks, "
        f"{d['plain_ms_per_task_linear']:.3f} ms): {d['P1_vs_linear_plain']:.2f}x "
        f"(fsync off: {d['P1_nofsync_vs_linear_plain']:.2f}x)"
    )
    for tool, result in doc["others"].items():
        if "ms_per_task" in result:
            lines.append(
                f"{tool}: {result['ms_per_task']:.3f} ms per no-op task (N {p['n_small']}"
                f"->{p['n_big']}; plain invoke {d['plain_ms_per_task']:.3f})"
            )
        else:
            lines.append(f"{tool}: skipped ({result['skipped']})")
    return "\n".join(lines)
