"""Sizes of a harness run, and the figures computed from its timings.

Differences and ratios are medians over rounds of the per-round difference or ratio (the cases
of one round ran close together, so load from other processes largely cancels), not
differences of medians.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.measure import Case

__all__ = ["FULL", "P5_NA", "SMOKE", "Params", "compute"]

P5_NA = "n/a (parallel groups not implemented)"


@dataclass(frozen=True)
class Params:
    """Sizes and repetition counts of one harness run."""

    n_small: int = 10  # P1/P1b: marginal cost between n_small and n_big steps (or tasks)
    n_big: int = 1000
    p4_low: int = 50  # P4: per-step overhead at p4_high steps / at p4_low steps
    p4_high: int = 5000
    p3_runs: int = 10_000  # P3: extra runs in the big store
    p3_steps: int = 3
    #: P3 is a difference of two ~0.6 s commands: more rounds, the noise of the machine is
    #: as large as the figure.
    p3_reps: int = 61
    list_tasks: int = 10  # P2: tasks in the tasks.py that --list / status load
    reps: int = 5  # repetitions of multi-second commands (n_big steps, P5)
    cheap_reps: int = 21  # repetitions of sub-second commands
    #: The 10- and 50-step cases: P4's denominator is their difference over 40 steps, so
    #: process-start noise (tens of ms) weighs on it most.
    small_reps: int = 61
    big_reps: int = 3  # repetitions at p4_high steps
    warmups: int = 1
    raw_writes: int = 200  # raw durable writes timed, half at the start, half at the end
    p5_steps: int = 8  # P5: one parallel group of p5_steps steps sleeping p5_sleep s each
    p5_sleep: float = 1.0


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
)


def paired(a: Case, b: Case, op: Callable[[float, float], float]) -> float:
    """Median over the rounds both ran in of ``op(a's time, b's time)``."""
    n = min(len(a.samples), len(b.samples))
    return statistics.median(op(a.samples[i], b.samples[i]) for i in range(n))


def _diff(x: float, y: float) -> float:
    return x - y


def _ratio(x: float, y: float) -> float:
    return x / y


def compute(cases: dict[str, Case], raw_ms: float, p: Params) -> dict[str, Any]:
    """Headline figures (top-level keys of the JSON) and ``details`` they come from."""
    lo, hi = p.n_small, p.n_big

    def marginal_ms(prefix: str, n_lo: int, n_hi: int, suffix: str = "") -> float:
        """Marginal ms per step (or task) between ``n_lo`` and ``n_hi`` of them."""
        a, b = cases[f"{prefix}{n_hi}{suffix}"], cases[f"{prefix}{n_lo}{suffix}"]
        return paired(a, b, _diff) / (n_hi - n_lo) * 1000.0

    plain = marginal_ms("plain", lo, hi)
    plain_linear = marginal_ms("plain", lo, p.p4_low)
    wf, wf_off = marginal_ms("wf", lo, hi), marginal_ms("wf", lo, hi, "_nofsync")
    p4 = {
        suffix: {
            str(n): marginal_ms("wf", lo, n, suffix) - plain_linear for n in (p.p4_high, p.p4_low)
        }
        for suffix in ("", "_nofsync")
    }
    has_p5 = "p5_group" in cases
    medians = {key: case.median for key, case in cases.items()}
    details: dict[str, Any] = {
        "median_seconds": medians,
        "samples_seconds": {key: case.samples for key, case in cases.items()},
        "plain_ms_per_task": plain,
        "plain_ms_per_task_linear": plain_linear,
        "workflow_ms_per_step": wf,
        "workflow_ms_per_step_nofsync": wf_off,
        "overhead_ms_per_step": wf - plain,
        "overhead_ms_per_step_nofsync": wf_off - plain,
        "P1_vs_linear_plain": (wf - plain_linear) / raw_ms,
        "P1_nofsync_vs_linear_plain": (wf_off - plain_linear) / raw_ms,
        "P4_overhead_ms_per_step": p4[""],
        "P4_nofsync_overhead_ms_per_step": p4["_nofsync"],
        **{f"{key}_ms": medians[key] * 1000.0 for key in _LISTING},
        "P5_status": "measured" if has_p5 else P5_NA,
        "P5_process_s": medians.get("p5_group"),
        "P5_baseline_s": medians.get("p5_baseline"),
    }
    high, low = str(p.p4_high), str(p.p4_low)
    return {
        "P1": (wf - plain) / raw_ms,
        "P1_nofsync": (wf_off - plain) / raw_ms,
        "P1b": wf_off / plain,
        "P1b_fsync": wf / plain,
        "P2a": paired(cases["list_plugin"], cases["list_plain"], _ratio),
        "P2b": paired(cases["status"], cases["list_plugin"], _ratio),
        "P3": paired(cases["resume_many"], cases["resume_one"], _diff) * 1000.0,
        "P4": p4[""][high] / p4[""][low],
        "P4_nofsync": p4["_nofsync"][high] / p4["_nofsync"][low],
        "P5": paired(cases["p5_group"], cases["p5_baseline"], _diff) if has_p5 else None,
        "details": details,
    }


_LISTING = ("list_plain", "list_plugin", "status", "resume_one", "resume_many")
