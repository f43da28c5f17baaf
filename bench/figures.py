"""Sizes of a harness run, which commands each figure needs, and the figures computed from
their timings.

Differences and ratios are medians over rounds of the per-round difference or ratio (the cases
of one round ran close together, so load from other processes largely cancels), not
differences of medians. A figure whose commands were not measured (``--only``) is ``None``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bench.measure import Case

__all__ = ["FULL", "NOFSYNC", "P5_NA", "SMOKE", "Params", "compute", "needs"]

P5_NA = "n/a (parallel groups not implemented)"
NOFSYNC = "_nofsync"


@dataclass(frozen=True)
class Params:
    """Sizes and repetition counts of one harness run."""

    #: P1/P1b: marginal cost between n_small and n_big steps (or tasks), where plain Invoke is
    #: still linear in the tasks named on its command line. P6 is measured at n_small steps.
    n_small: int = 10
    n_big: int = 300
    p4_low: int = 50  # P4: per-step overhead at p4_high steps / at p4_low steps
    p4_high: int = 5000
    p3_runs: int = 10_000  # P3: extra runs in the big store
    p3_steps: int = 3
    #: P3 is a difference of two ~0.6 s commands: more rounds, the noise of the machine is
    #: as large as the figure.
    p3_reps: int = 61
    list_tasks: int = 10  # P2: tasks in the tasks.py that --list / status load
    reps: int = 5  # repetitions of multi-second commands (P5, doit/pytask)
    #: Repetitions of the n_big-step commands (P1, P1b). 41, not 21: the median of 21 per-round
    #: ratios moved by ~0.03 between harness runs (bootstrap of round 5's samples), as much as
    #: the margin of some targets.
    cheap_reps: int = 41
    #: The 10- and 50-step cases: P4's denominator is their difference over 40 steps, and P6
    #: is a difference of two ~0.2 s commands, so process-start noise (tens of ms) weighs most.
    small_reps: int = 61
    #: Repetitions at p4_high steps: P4's numerator. Five, not three: one slow run of three
    #: moved the median by 10% in round 5.
    big_reps: int = 5
    warmups: int = 1
    raw_writes: int = 200  # raw durable writes timed, half at the start, half at the end
    p5_steps: int = 8  # P5: one parallel group of p5_steps steps sleeping p5_sleep s each
    p5_sleep: float = 1.0
    m1_steps: int = 10_000  # M1: peak RSS of a run of m1_steps steps / of --list
    m1_reps: int = 2  # peak RSS hardly varies; each run of 10,000 steps takes ~40 s
    p7_steps: int = 300  # P7: --resume of a p7_steps-step run that failed at step p7_fail
    p7_fail: int = 150
    #: P7 is a ratio of two ~0.35 s commands: 41 rounds bring the standard error of its median
    #: from ~0.04 (21 rounds) to ~0.02 (bootstrap of round 5's samples).
    p7_reps: int = 41
    #: Before each round (untimed): ``sync``, then wait for a second without disk I/O
    #: (``measure.settle_disk``), so that no command pays for the disk work of the one before.
    settle: bool = True


FULL = Params()
SMOKE = Params(
    n_small=2,
    n_big=6,
    p4_low=4,
    p4_high=8,
    p3_runs=20,
    p3_steps=2,
    p3_reps=1,
    list_tasks=3,
    reps=1,
    cheap_reps=1,
    small_reps=1,
    big_reps=1,
    warmups=0,
    raw_writes=10,
    p5_sleep=0.1,
    m1_steps=20,
    m1_reps=1,
    p7_steps=6,
    p7_fail=3,
    p7_reps=1,
    settle=False,
)


def needs(p: Params) -> dict[str, tuple[str, ...]]:
    """Every figure (in the order of the table) and the keys of the cases it is computed from."""
    lo, hi, low, high = p.n_small, p.n_big, p.p4_low, p.p4_high

    def wf(suffix: str, *sizes: int) -> tuple[str, ...]:
        return tuple(f"wf{n}{suffix}" for n in sizes)

    plain = (f"plain{lo}", f"plain{hi}")
    linear = (f"plain{lo}", f"plain{low}")
    return {
        "P1": (*wf("", lo, hi), *plain),
        "P1_nofsync": (*wf(NOFSYNC, lo, hi), *plain),
        "P1b": (*wf(NOFSYNC, lo, hi), *plain),
        "P1b_fsync": (*wf("", lo, hi), *plain),
        "P2a": ("list_plugin", "list_plain"),
        "P2b": ("status", "list_plugin"),
        "P3": ("resume_many", "resume_one"),
        "P4": (*wf("", lo, low, high), *linear),
        "P4_nofsync": (*wf(NOFSYNC, lo, low, high), *linear),
        "P5": ("p5_group", "p5_baseline"),
        "M1": ("m1_workflow", "m1_list"),
        "P6": (*wf("", lo), f"plain{lo}"),
        "P6_nofsync": (*wf(NOFSYNC, lo), f"plain{lo}"),
        "P7": ("p7_resume", "p7_plain"),
        "P7_nofsync": ("p7_resume_nofsync", "p7_plain"),
        "P7_floor": ("p7_floor", "p7_plain"),
        "P7_floor_nofsync": ("p7_floor_nofsync", "p7_plain"),
    }


def paired(a: Sequence[float], b: Sequence[float], op: Callable[[float, float], float]) -> float:
    """Median over the rounds both ran in of ``op(a's value, b's value)``."""
    n = min(len(a), len(b))
    return statistics.median(op(a[i], b[i]) for i in range(n))


def _diff(x: float, y: float) -> float:
    return x - y


def _ratio(x: float, y: float) -> float:
    return x / y


class _Figures:
    """The figures of one harness run, each computed when its cases were measured."""

    def __init__(self, cases: dict[str, Case], raw_ms: float, p: Params) -> None:
        self.cases, self.raw_ms, self.p = cases, raw_ms, p
        self.needs = needs(p)
        self.values: dict[str, float | None] = dict.fromkeys(self.needs)
        self.details: dict[str, Any] = {}

    def has(self, *keys: str) -> bool:
        return all(key in self.cases for key in keys)

    def diff(self, a: str, b: str) -> float:
        return paired(self.cases[a].samples, self.cases[b].samples, _diff)

    def ratio(self, a: str, b: str) -> float:
        return paired(self.cases[a].samples, self.cases[b].samples, _ratio)

    def marginal_ms(self, prefix: str, n_lo: int, n_hi: int, suffix: str = "") -> float:
        """Marginal ms per step (or task) between ``n_lo`` and ``n_hi`` of them."""
        a, b = f"{prefix}{n_hi}{suffix}", f"{prefix}{n_lo}{suffix}"
        return self.diff(a, b) / (n_hi - n_lo) * 1000.0

    def p1(self) -> None:
        """P1, P1_nofsync, P1b, P1b_fsync: per step between n_small and n_big."""
        p, d = self.p, self.details
        lo, hi = p.n_small, p.n_big
        if not self.has(f"plain{lo}", f"plain{hi}"):
            return
        plain = d["plain_ms_per_task"] = self.marginal_ms("plain", lo, hi)
        linear = self.has(f"plain{p.p4_low}")
        for suffix, name in (("", "P1"), (NOFSYNC, "P1_nofsync")):
            if not self.has(f"wf{lo}{suffix}", f"wf{hi}{suffix}"):
                continue
            wf = d[f"workflow_ms_per_step{suffix}"] = self.marginal_ms("wf", lo, hi, suffix)
            d[f"overhead_ms_per_step{suffix}"] = wf - plain
            self.values[name] = (wf - plain) / self.raw_ms
            self.values["P1b_fsync" if suffix == "" else "P1b"] = wf / plain
            if linear:
                d["plain_ms_per_task_linear"] = self.marginal_ms("plain", lo, p.p4_low)
                d[f"{name}_vs_linear_plain"] = (wf - d["plain_ms_per_task_linear"]) / self.raw_ms

    def p4(self) -> None:
        """P4, P4_nofsync: per-step overhead at p4_high steps / at p4_low steps."""
        p = self.p
        lo, low, high = p.n_small, p.p4_low, p.p4_high
        for suffix, name in (("", "P4"), (NOFSYNC, "P4_nofsync")):
            if not self.has(*self.needs[name]):
                continue
            linear = self.marginal_ms("plain", lo, low)
            over = {str(n): self.marginal_ms("wf", lo, n, suffix) - linear for n in (high, low)}
            self.details[f"{name}_overhead_ms_per_step"] = over
            self.values[name] = over[str(high)] / over[str(low)]

    def simple(self) -> None:
        """The figures that are one paired difference or ratio of two commands."""
        v, d, lo = self.values, self.details, self.p.n_small
        if self.has("list_plugin", "list_plain"):
            v["P2a"] = self.ratio("list_plugin", "list_plain")
        if self.has("status", "list_plugin"):
            v["P2b"] = self.ratio("status", "list_plugin")
        if self.has("resume_many", "resume_one"):
            v["P3"] = self.diff("resume_many", "resume_one") * 1000.0
        if self.has("p5_group", "p5_baseline"):
            v["P5"] = self.diff("p5_group", "p5_baseline")
            d["P5_status"] = "measured"
        for suffix in ("", NOFSYNC):
            if self.has(f"wf{lo}{suffix}", f"plain{lo}"):
                v[f"P6{suffix}"] = self.diff(f"wf{lo}{suffix}", f"plain{lo}") * 1000.0
            if self.has(f"p7_resume{suffix}", "p7_plain"):
                v[f"P7{suffix}"] = self.ratio(f"p7_resume{suffix}", "p7_plain")
            if self.has(f"p7_floor{suffix}", "p7_plain"):
                v[f"P7_floor{suffix}"] = self.ratio(f"p7_floor{suffix}", "p7_plain")
        if self.has("m1_workflow", "m1_list"):
            a, b = self.cases["m1_workflow"].rss_kib, self.cases["m1_list"].rss_kib
            v["M1"] = paired([float(x) for x in a], [float(x) for x in b], _ratio)
            d["M1_workflow_peak_rss_mib"] = statistics.median(a) / 1024.0
            d["M1_list_peak_rss_mib"] = statistics.median(b) / 1024.0


def compute(
    cases: dict[str, Case], raw_ms: float, p: Params, selected: Sequence[str]
) -> dict[str, Any]:
    """Headline figures (top-level keys of the JSON; ``None`` when not measured) and the
    ``details`` they come from; ``selected``: the figures asked for."""
    figures = _Figures(cases, raw_ms, p)
    medians = {key: case.median for key, case in cases.items()}
    figures.details.update(
        {
            "median_seconds": medians,
            "samples_seconds": {key: case.samples for key, case in cases.items()},
            "median_peak_rss_mib": {
                key: statistics.median(case.rss_kib) / 1024.0
                for key, case in cases.items()
                if case.rss_kib
            },
            **{f"{key}_ms": medians[key] * 1000.0 for key in medians},
            "P5_status": P5_NA if "P5" in selected else "not measured",
        }
    )
    figures.p1()
    figures.p4()
    figures.simple()
    return {**figures.values, "details": figures.details}
