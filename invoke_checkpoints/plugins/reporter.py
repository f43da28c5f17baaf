"""Built-in plugin ``reporter``: a start and end line per step, and a summary at the end."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from ..store.history import eta_table
from .formatting import (
    describe_exit,
    format_clock,
    format_duration,
    is_terminal,
    paint,
    plural,
    use_color,
    workflow_title,
)
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..run.context import RunInfo, StepInfo
    from ..store.records import StepState


class _Ticker:
    """On a terminal: one live line with the step's elapsed time and the run's ETA.

    While it runs, ``sys.stdout`` and ``sys.stderr`` go through :class:`_Guarded`: before the
    step writes, the live line is erased; it is drawn again only at the start of a line, so it
    never appears inside a line of the step's output.
    """

    interval = 1.0

    def __init__(self, out: TextIO, label: str, eta: float | None) -> None:
        self.out, self.label, self.eta = out, label, eta
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.shown = False
        self.line_start = True
        self._saved = sys.stdout, sys.stderr
        self._guards = (_Guarded(self, sys.stdout), _Guarded(self, sys.stderr))
        sys.stdout, sys.stderr = self._guards
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="checkpoints-ticker", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            elapsed = time.monotonic() - self.started
            text = f"{self.label}: {format_clock(elapsed)} elapsed"
            if self.eta is not None:
                text += f", ETA {format_clock(max(self.eta - elapsed, 0.0))}"
            with self.lock:
                if self._stop.is_set() or not self.line_start:
                    continue
                self.out.write(f"\r\x1b[2K{text}")
                self.out.flush()
                self.shown = True

    def clear(self) -> None:
        """Erase the live line (the caller holds ``lock``)."""
        if self.shown:
            self.out.write("\r\x1b[2K")
            self.out.flush()
            self.shown = False

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        with self.lock:
            self.clear()
        if (sys.stdout, sys.stderr) == self._guards:
            sys.stdout, sys.stderr = self._saved


class _Guarded:
    """``sys.stdout`` / ``sys.stderr`` while the ticker runs: erase the live line, then write."""

    def __init__(self, ticker: _Ticker, target: TextIO) -> None:
        self._ticker, self._target = ticker, target

    def write(self, text: str) -> int:
        ticker = self._ticker
        with ticker.lock:
            ticker.clear()
            written = self._target.write(text)
            if text:
                ticker.line_start = text.endswith("\n")
            if not ticker.line_start:
                self._target.flush()
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class ConsoleReporter:
    """Prints progress to stdout; ``quiet`` keeps only failures and the summary.

    ``history(workflow, run_id)`` gives the expected duration of each step by name (from earlier
    runs, excluding ``run_id``) for the ETA; without it no ETA is shown.
    """

    def __init__(
        self,
        *,
        quiet: bool = False,
        out: TextIO | None = None,
        history: Callable[[str, str], dict[str, float]] | None = None,
        auto_dash: bool = True,
    ) -> None:
        self.quiet = quiet
        #: Invoke's ``tasks.auto_dash_names``: how the resume hint spells the workflow's task.
        self.auto_dash = auto_dash
        self._out = out
        self._history = history
        #: (name, outcome, duration, detail) per step this process saw.
        self.rows: dict[int, tuple[str, str, float | None, str]] = {}
        #: Seconds left from each step on, from earlier completed runs (``None``: unknown).
        self.eta: list[float | None] = []
        self._ticker: _Ticker | None = None
        #: Steps started and not ended yet.
        self._active = 0
        #: The stream last asked whether it is a terminal, and the answer.
        self._tty: tuple[TextIO | None, bool] = (None, False)
        #: The output's reader went away (a broken pipe): nothing more is printed.
        self._reader_gone = False

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    def _print(self, text: str, *, always: bool = False) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None
        if (always or not self.quiet) and not self._reader_gone:
            out = self.out
            try:
                out.write(text + "\n")  # one write: an unbuffered stdout makes each a syscall
                out.flush()
            except BrokenPipeError:
                self._gone(out)

    def _gone(self, out: TextIO) -> None:
        """Whoever read the output stopped (``invoke workflow | head``): the run goes on and
        says nothing more; the steps' own output and Python's last flush go to /dev/null
        instead of failing (the standard library's advice for SIGPIPE)."""
        self._reader_gone = True
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):
            return  # not a file (a test's StringIO): nothing else writes to it
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)

    def _terminal(self, stream: TextIO) -> bool:
        """``is_terminal(stream)``, asked once per stream (a syscall each time otherwise)."""
        if stream is not self._tty[0]:
            self._tty = (stream, is_terminal(stream))
        return self._tty[1]

    def _paint(self, text: str, status: str) -> str:
        out = self.out
        return paint(text, status) if use_color(out, terminal=self._terminal(out)) else text

    @staticmethod
    def _prefix(run: RunInfo, step: StepInfo) -> str:
        return f"[{step.number + 1}/{len(run.steps)}] {step.name}"

    @hookimpl
    def checkpoints_workflow_start(self, run: RunInfo) -> None:
        if run.dry:
            where = " (--dry: commands are echoed, nothing is recorded)"
        else:
            where = f" ({run.workflow_id})" if run.workflow_id else " (checkpoints disabled)"
        self._print(f"{workflow_title(run.name)}{where}: {plural(len(run.steps), 'step')}")
        if run.workflow_id and self._history is not None:
            try:
                expected = self._history(run.name, run.workflow_id)
            except OSError:
                expected = {}
            self.eta = eta_table(expected, run.steps)

    @hookimpl
    def checkpoints_step_start(self, run: RunInfo, step: StepInfo) -> None:
        eta = self.eta[step.number] if step.number < len(self.eta) else None
        label = self._prefix(run, step)
        self._print(label + (f" (ETA {format_clock(eta)})" if eta is not None else ""))
        self._active += 1
        # One live line for one step: steps of a parallel group print prefixed lines instead.
        # NO_COLOR turns colour off, not the live line (it erases itself with \r and ESC[2K).
        if not self.quiet and self._active == 1 and self._terminal(self.out):
            self._ticker = _Ticker(self.out, label, eta)

    @hookimpl
    def checkpoints_step_complete(self, run: RunInfo, step: StepInfo, state: StepState) -> None:
        self._active = max(self._active - 1, 0)
        self.rows[step.number] = (step.name, "completed", state.duration_seconds, "")
        outcome = self._paint("completed", "completed")
        self._print(
            f"{self._prefix(run, step)}: {outcome} in {format_duration(state.duration_seconds)}"
        )

    @hookimpl
    def checkpoints_step_failed(
        self, run: RunInfo, step: StepInfo, state: StepState, error: BaseException
    ) -> None:
        self._active = max(self._active - 1, 0)
        detail = describe_exit(state.exit_code)
        outcome = str(state.status.value)
        self.rows[step.number] = (step.name, outcome, state.duration_seconds, detail)
        extra = f" ({detail})" if detail else ""
        self._print(
            f"{self._prefix(run, step)}: {self._paint(outcome, outcome)} after "
            f"{format_duration(state.duration_seconds)}{extra}",
            always=True,
        )

    @hookimpl
    def checkpoints_step_skipped(self, run: RunInfo, step: StepInfo, reason: str) -> None:
        self.rows[step.number] = (step.name, "skipped", None, reason)
        self._print(f"{self._prefix(run, step)}: {self._paint('skipped', 'skipped')} ({reason})")

    @hookimpl
    def checkpoints_workflow_finish(self, run: RunInfo, status: str) -> None:
        if not self.rows:
            return
        width = max(len(name) for name, *_ in self.rows.values())
        lines = [f"{workflow_title(run.name)}: {self._paint(status, status)}"]
        for number in sorted(self.rows):
            name, outcome, duration, detail = self.rows[number]
            lines.append(
                f"  {number:>3}  {name:<{width}}  {self._paint(f'{outcome:<11}', outcome)}  "
                f"{format_duration(duration):>8}  {detail}".rstrip()
            )
        if status != "completed" and run.workflow_id:
            from ..store.status import resume_command

            command = resume_command(run.name, run.workflow_id, auto_dash=self.auto_dash)
            lines.append(f"resume with: {command}")
        self._print("\n".join(lines), always=True)
