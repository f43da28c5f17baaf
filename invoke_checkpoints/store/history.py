"""Durations of steps in earlier completed runs, for the ETA shown while a workflow runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CheckpointError
from .vocabulary import RunStatus, StepStatus

if TYPE_CHECKING:
    from .runs import RunDir, Store

__all__ = ["eta_seconds", "eta_table", "expected_durations", "median"]


def expected_durations(
    store: Store, workflow: str, *, exclude: str | None = None, runs: int = 3, scan: int = 20
) -> dict[str, float]:
    """Median duration per step name over the latest ``runs`` completed runs (of the newest
    ``scan`` runs): a bounded amount of reading, whatever the size of the store."""
    samples: dict[str, list[float]] = {}
    found = 0
    for run_id in store.newest(workflow, scan):
        if run_id == exclude:
            continue
        try:
            run_dir = store.run(workflow, run_id)
            # Only checkpoint.json: it carries every completed step's duration.
            cp = run_dir.checkpoint_doc(check_files=False)
            if cp["status"] != RunStatus.COMPLETED.value:
                continue
            durations = cp["durations"] or _from_state_files(run_dir, cp["steps"])
            for name, seconds in durations.items():
                if seconds is not None:  # 0.0: a step faster than the clock's resolution
                    samples.setdefault(name, []).append(seconds)
        except CheckpointError:
            continue  # a corrupt old run just does not contribute
        found += 1
        if found >= runs:
            break
    return {name: median(values) for name, values in samples.items()}


def median(values: list[float]) -> float:
    """``statistics.median`` (a mean of the middle two for an even count), without importing
    ``statistics``: it pulls in ``fractions`` and ``decimal``, 3.5 ms before step 0."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _from_state_files(run_dir: RunDir, steps: list[str]) -> dict[str, float]:
    """Durations of a run written before checkpoint.json carried them."""
    found: dict[str, float] = {}
    for number, name in enumerate(steps):
        state = run_dir.state_doc(number)
        if not state or state["status"] != StepStatus.COMPLETED.value:
            continue
        if state["duration_seconds"] is not None:
            found[name] = state["duration_seconds"]
    return found


def eta_seconds(
    expected: dict[str, float], remaining: list[str], elapsed_in_current: float
) -> float | None:
    """Seconds left for ``remaining`` steps (the current one first); ``None`` without history
    for every one of them: no history, no guess."""
    if not remaining or any(name not in expected for name in remaining):
        return None
    current, rest = remaining[0], remaining[1:]
    left = max(expected[current] - elapsed_in_current, 0.0)
    return left + sum(expected[name] for name in rest)


def eta_table(expected: dict[str, float], steps: tuple[str, ...]) -> list[float | None]:
    """``eta_seconds(expected, steps[i:], 0.0)`` for every ``i``, in one pass from the end (the
    reporter looks one up per step instead of summing the rest of the run each time)."""
    table: list[float | None] = [None] * len(steps)
    left: float | None = 0.0
    for i in range(len(steps) - 1, -1, -1):
        seconds = expected.get(steps[i])
        left = None if left is None or seconds is None else left + seconds
        table[i] = left
    return table
