"""What a running workflow writes: checkpoint.json, state files and markers, in the right order
and with the right durability.

Write order for a step: state file (``running``) -> task runs -> state file (final) ->
checkpoint.json -> ``step_NN.complete``. The marker is the commit point: a step with a marker
never runs again; everything else is reconciled from the markers when a run is loaded.
So after a step only the marker must be durable (fsynced) before the next step starts; the
state file and checkpoint.json are fsynced too only when they hold something the markers
cannot rebuild (outputs, warnings, ``vars``). See docs/format.md, "Durability".

A :class:`Recorder` without a run directory (``checkpoints.enabled: false``) writes nothing.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError, LockHeldError
from ..store.records import Attempt, Checkpoint, GroupState, Marker, StepState
from ..store.vocabulary import RunStatus, StepStatus, utcnow
from .outcomes import bounded, jsonable

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..store.runs import RunDir
    from .context import RunInfo
    from .definition import WorkflowDefinition
    from .resolve import RunOptions

__all__ = ["CHECKPOINT_INTERVAL", "Recorder", "refuse_live_children"]

#: checkpoint.json is rewritten after a step at most this often (seconds), unless the step
#: took at least as long or changed what only checkpoint.json holds; always when the run stops.
#: The store's ``Backend.checkpoint_interval`` (a remote store's is longer) replaces it.
CHECKPOINT_INTERVAL = 0.1
#: A step's ``running`` state is written once it has run this long (seconds), or when it starts
#: a command: a quicker step has only its final state written. The store's
#: ``Backend.running_state_delay`` replaces it (on a remote store, a command waits for it too).
RUNNING_STATE_DELAY = 0.1


def refuse_live_children(run_id: str, states: list[StepState | None]) -> None:
    """Refuse to resume while a step's child from a killed invocation still runs."""
    from ..store.processes import group_alive

    for state in states:
        if state is None or state.status is not StepStatus.RUNNING or not state.child_pid:
            continue
        if group_alive(state.child_pid, state.child_started, grace=0.5):
            raise LockHeldError(
                f"run {run_id}: step {state.step} ({state.name}) is still running in process "
                f"{state.child_pid}, left by an invocation that was killed; wait for it or stop "
                f"it (kill -- -{state.child_pid}), then resume",
                run_id=run_id,
            )


class Recorder:
    """The checkpoint files of one run, as this process executes it. Thread-safe."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        run_dir: RunDir | None,
        cp: Checkpoint | None,
        done: set[int],
        *,
        earlier: dict[int, StepState] | None = None,
    ) -> None:
        self.definition = definition
        self.run_dir = run_dir
        self.cp = cp
        #: Steps with a marker: the source of truth for "complete".
        self.done = done
        #: A resumed run's state files, as read when it was chosen, of the steps that may run
        #: (empty for a run created by this process).
        self._earlier = earlier if earlier is not None else {}
        #: Serialises checkpoint writes and hook calls (parallel steps run in threads).
        self.mutex = threading.RLock()
        self._cursor = 0
        #: Durations of the steps completed by this process; into checkpoint.json at the end
        #: only, so the per-step rewrite does not grow with them.
        self._durations: dict[str, float] = {}
        #: ``vars`` and the number of warnings in the last durable checkpoint.json.
        self._synced: tuple[str, int] | None = None
        #: When checkpoint.json was last written (``time.monotonic()``).
        self._saved_at = float("-inf")
        #: Writes the ``running`` state of steps still running after RUNNING_STATE_DELAY.
        self._deferred: _Deferred | None = None
        #: The store's cost model; a local store records a step's command at once (a resume
        #: on this machine checks its pid), a remote one once the step has run its delay.
        backend = run_dir.backend if run_dir is not None else None
        self._interval = backend.checkpoint_interval if backend else CHECKPOINT_INTERVAL
        self._state_delay = backend.running_state_delay if backend else RUNNING_STATE_DELAY
        self._command_now = backend is None or not backend.remote

    @property
    def warnings(self) -> list[str]:
        """The run's warnings (a throwaway list when nothing is written)."""
        return self.cp.warnings if self.cp is not None else []

    def warn(self, message: str) -> None:
        if self.cp is not None:
            self.cp.warnings.append(message)

    def prepare(self, options: RunOptions, environment: dict[str, Any], run: RunInfo) -> None:
        """Mark the run ``running`` with this invocation's options and environment."""
        cp = self.cp
        if cp is None:
            return
        cp.status = RunStatus.RUNNING
        cp.completed_steps = sorted(self.done)  # the markers are the truth
        cp.options = options.to_json()
        cp.execution_mode.parallel = options.parallel
        cp.execution_mode.smart_execution = options.smart
        cp.smart_execution.enabled = options.smart
        cp.parallel_execution.enabled = options.parallel
        cp.parallel_execution.max_workers = options.max_workers
        groups = self.definition.groups
        if [g.steps for g in cp.parallel_execution.groups] != [list(g) for g in groups]:
            cp.parallel_execution.groups = [GroupState(steps=list(g)) for g in groups]
        for state, members in zip(cp.parallel_execution.groups, groups, strict=True):
            state.status = "completed" if set(members) <= self.done else "pending"
        cp.environment = environment
        self.save(run, current=self.first_pending())

    def first_pending(self) -> int | None:
        """The first step without a marker (amortised O(1))."""
        total = len(self.definition.steps)
        # `done` only grows while a run executes, so the first gap only moves forward.
        while self._cursor < total and self._cursor in self.done:
            self._cursor += 1
        return self._cursor if self._cursor < total else None

    def earlier_attempts(self, step: int) -> tuple[int, list[Attempt]]:
        """How many times ``step`` started in this run before now, and those attempts (oldest
        first) to keep in its new state file: the state it leaves behind is appended to the
        ones it carried (its state file as read when the run was chosen: each step starts once
        per invocation, so it is the file's content now)."""
        previous = self._earlier.pop(step, None)
        if previous is None:
            return 0, []
        return previous.attempts, [*previous.previous_attempts, previous.as_attempt()]

    def running(self, state: StepState) -> None:
        """A step started: its ``running`` state is written if it still runs after
        ``RUNNING_STATE_DELAY`` (call with the mutex held). Not fsynced when written: until the
        marker exists the step runs again after any crash."""
        if self.run_dir is None:
            return
        if self._deferred is None:
            self._deferred = _Deferred(self.mutex, self.write_state, self._state_delay)
        self._deferred.schedule(state)

    def started_command(self, state: StepState) -> None:
        """A step started a command: its ``running`` state (with the child's pid) is written
        now, for a resume after a kill to see; on a remote store, once the step has run its
        delay (call with the mutex held)."""
        if self._deferred is not None:
            if not self._command_now and self._deferred.update(state):
                return  # written, with the child's pid, once the step has run its delay
            self._deferred.cancel(state.step)
        self.write_state(state, sync=False)

    def stopped(self, step: int) -> None:
        """A step ended: its ``running`` state is no longer due (call with the mutex held)."""
        if self._deferred is not None:
            self._deferred.cancel(step)

    def close(self) -> None:
        """The run stopped in this process: no more deferred writes."""
        if self._deferred is not None:
            self._deferred.close()

    def write_state(self, state: StepState, *, sync: bool = True) -> None:
        if self.run_dir is not None:
            self.run_dir.write_state(state, sync=sync)

    def commit(self, state: StepState, run: RunInfo) -> None:
        """A step succeeded: final state, checkpoint.json, then the marker (the commit point).

        checkpoint.json is fsynced without its directory: the marker's directory fsync right
        after persists both renames, and completion is reconciled from markers anyway.
        """
        # Step, name, time and duration are in the marker: a state file holding nothing more
        # is rebuilt from it after a power cut, so it needs no fsync of its own.
        self.write_state(state, sync=bool(state.outputs or state.warnings))
        self.done.add(state.step)
        if self.cp is not None:
            if self.cp.completed_steps and self.cp.completed_steps[-1] < state.step:
                self.cp.completed_steps.append(state.step)  # the usual, in-order case
            else:
                bisect.insort(self.cp.completed_steps, state.step)
            self._durations[state.name] = state.duration_seconds or 0.0
        if self._due(run, state):
            self.save(run, current=self.first_pending(), rebuildable=True, sync_dir=False)
        if self.run_dir is not None:
            assert state.completed_at is not None and state.duration_seconds is not None
            self.run_dir.write_marker(
                Marker(
                    STEP=state.step,
                    NAME=state.name,
                    COMPLETED_AT=state.completed_at,
                    DURATION_SECONDS=state.duration_seconds,
                )
            )

    def _due(self, run: RunInfo, state: StepState) -> bool:
        """Whether checkpoint.json is rewritten after this step (docs/format.md, "How current
        checkpoint.json is"): when ``CHECKPOINT_INTERVAL`` has passed since its last write, when
        the step itself took that long, or when it must carry something the markers cannot
        rebuild (changed ``vars``, a new warning). Otherwise only the marker commits the step,
        and the run's stop (completed, failed, interrupted) brings the file up to date."""
        if self.cp is None or self.run_dir is None:
            return False
        if (state.duration_seconds or 0.0) >= self._interval:
            return True
        if time.monotonic() - self._saved_at >= self._interval:
            return True
        if len(self.cp.warnings) != (self._synced[1] if self._synced else 0):
            return True
        if not run.vars and not self.cp.vars:
            return False  # the usual case: no vars, nothing to compare
        vars_now = json.dumps(jsonable(run.vars, self.cp.warnings, "vars"))
        return self._synced is None or vars_now != self._synced[0]

    def skipped(self, state: StepState) -> None:
        """A step skipped instead of run: not fsynced, a skip is decided again on resume."""
        self.write_state(state, sync=False)
        if self.cp is not None:
            smart = self.cp.smart_execution
            if state.step not in smart.skipped_steps:
                smart.skipped_steps.append(state.step)
            smart.skip_reason = state.reason
            smart.reasons[str(state.step)] = state.reason or ""

    def set_group(self, run: RunInfo, group: int, status: str) -> None:
        with self.mutex:
            if self.cp is not None:
                self.cp.parallel_execution.groups[group].status = status  # type: ignore[assignment]
                # Group states are recomputed from the markers on resume.
                self.save(run, current=self.first_pending(), rebuildable=True)

    def finish(self, run: RunInfo, status: RunStatus, current: int | None) -> None:
        """Record the run's final status (durable)."""
        if self.cp is None:
            return
        self.cp.status = status
        self.cp.finished_at = utcnow()
        self._record_durations()
        self.save(run, current=None if status is RunStatus.COMPLETED else current)

    def save(
        self,
        run: RunInfo,
        current: int | None,
        *,
        rebuildable: bool = False,
        sync_dir: bool = True,
    ) -> None:
        """Rewrite checkpoint.json; ``rebuildable``: the caller's changes can be rebuilt from
        the markers, so it is fsynced only if ``vars`` or the warnings changed too."""
        if self.cp is None or self.run_dir is None:
            return
        with self.mutex:
            cp = self.cp
            if len(cp.completed_steps) != len(self.done):
                cp.completed_steps = sorted(self.done)
            cp.current_step = current
            cp.last_checkpoint = utcnow()
            cp.vars = bounded(jsonable(run.vars, cp.warnings, "vars"), cp.warnings, "vars")
            # Serialised, so that a list in vars changed in place counts as a change. No
            # sort_keys: a nested dict may mix key types (jsonable accepted it as it is).
            synced = (json.dumps(cp.vars), len(cp.warnings))
            durable = not rebuildable or synced != self._synced
            self.run_dir.write_checkpoint(cp, sync=durable, sync_dir=sync_dir)
            self._saved_at = time.monotonic()
            if durable:
                self._synced = synced

    def _record_durations(self) -> None:
        """Bring ``durations`` up to date for every step with a marker (those completed in a
        session that was killed are read from their markers)."""
        assert self.cp is not None
        self.cp.durations.update(self._durations)
        self._durations.clear()
        names = self.definition.step_names
        for number in sorted(self.done):
            if names[number] not in self.cp.durations and self.run_dir is not None:
                marker = None
                with contextlib.suppress(CheckpointError):  # durations only feed the ETA
                    marker = self.run_dir.read_marker(number)
                if marker is not None and math.isfinite(marker.DURATION_SECONDS):
                    self.cp.durations[names[number]] = marker.DURATION_SECONDS


class _Deferred:
    """One thread that writes a step's ``running`` state when the step is still running
    ``RUNNING_STATE_DELAY`` after it started; nothing for a step that ended sooner."""

    def __init__(self, mutex: threading.RLock, write: Callable[..., None], delay: float) -> None:
        self._cond = threading.Condition(mutex)
        self._write = write
        self._delay = delay
        self._due: dict[int, tuple[float, StepState]] = {}
        self._closed = False
        #: The thread waits with no deadline (nothing was due when it last looked).
        self._idle = True
        self._thread = threading.Thread(target=self._loop, name="checkpoints-state", daemon=True)
        self._thread.start()

    def schedule(self, state: StepState) -> None:
        with self._cond:
            self._due[state.step] = (time.monotonic() + self._delay, state)
            if self._idle:
                # Otherwise the thread sleeps until a deadline no later than this one (they
                # only grow) and looks again then: waking it at every step start would cost
                # two thread switches per step.
                self._cond.notify()

    def update(self, state: StepState) -> bool:
        """The state to write for a step still due (same deadline); False if it is not due."""
        with self._cond:
            if state.step not in self._due:
                return False
            self._due[state.step] = (self._due[state.step][0], state)
            return True

    def cancel(self, step: int) -> None:
        with self._cond:
            self._due.pop(step, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._due.clear()
            self._cond.notify()

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                if not self._due:
                    self._idle = True
                    self._cond.wait()
                    continue
                self._idle = False
                step, (deadline, state) = min(self._due.items(), key=lambda item: item[1][0])
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                del self._due[step]
                with contextlib.suppress(CheckpointError):  # the step's own writes will say it
                    self._write(state, sync=False)
