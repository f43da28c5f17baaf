"""Built-in plugin ``reporter``: a start and end line per step, and a summary at the end."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..context import RunInfo, StepInfo
    from ..models import StepState


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class ConsoleReporter:
    """Prints progress to stdout; ``quiet`` keeps only failures and the summary."""

    def __init__(self, *, quiet: bool = False, out: TextIO | None = None) -> None:
        self.quiet = quiet
        self._out = out
        #: (number, name, outcome, duration, detail) per step this process saw.
        self.rows: dict[int, tuple[str, str, float | None, str]] = {}

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    def _print(self, text: str, *, always: bool = False) -> None:
        if always or not self.quiet:
            print(text, file=self.out, flush=True)

    @staticmethod
    def _prefix(run: RunInfo, step: StepInfo) -> str:
        return f"[{step.number + 1}/{len(run.steps)}] {step.name}"

    @hookimpl
    def checkpoints_workflow_start(self, run: RunInfo) -> None:
        where = f" ({run.workflow_id})" if run.workflow_id else " (checkpoints disabled)"
        self._print(f"workflow {run.name}{where}: {len(run.steps)} steps")

    @hookimpl
    def checkpoints_step_start(self, run: RunInfo, step: StepInfo) -> None:
        self._print(self._prefix(run, step))

    @hookimpl
    def checkpoints_step_complete(self, run: RunInfo, step: StepInfo, state: StepState) -> None:
        self.rows[step.number] = (step.name, "completed", state.duration_seconds, "")
        self._print(
            f"{self._prefix(run, step)}: completed in {format_duration(state.duration_seconds)}"
        )

    @hookimpl
    def checkpoints_step_failed(
        self, run: RunInfo, step: StepInfo, state: StepState, error: BaseException
    ) -> None:
        detail = f"exit {state.exit_code}" if state.exit_code is not None else ""
        outcome = str(state.status.value)
        self.rows[step.number] = (step.name, outcome, state.duration_seconds, detail)
        extra = f" ({detail})" if detail else ""
        self._print(
            f"{self._prefix(run, step)}: {outcome} after "
            f"{format_duration(state.duration_seconds)}{extra}",
            always=True,
        )

    @hookimpl
    def checkpoints_step_skipped(self, run: RunInfo, step: StepInfo, reason: str) -> None:
        self.rows[step.number] = (step.name, "skipped", None, reason)
        self._print(f"{self._prefix(run, step)}: skipped ({reason})")

    @hookimpl
    def checkpoints_workflow_finish(self, run: RunInfo, status: str) -> None:
        if not self.rows:
            return
        width = max(len(name) for name, *_ in self.rows.values())
        lines = [f"workflow {run.name}: {status}"]
        for number in sorted(self.rows):
            name, outcome, duration, detail = self.rows[number]
            lines.append(
                f"  {number:>3}  {name:<{width}}  {outcome:<11}  "
                f"{format_duration(duration):>8}  {detail}".rstrip()
            )
        if status != "completed" and run.workflow_id:
            lines.append(f"resume with: invoke {run.name} --resume={run.workflow_id}")
        self._print("\n".join(lines), always=True)
