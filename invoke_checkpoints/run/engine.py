"""Running and resuming the steps of a workflow, with a checkpoint around every step.

Write order for a step: state file (``running``) -> task runs -> state file (final) ->
checkpoint.json -> ``step_NN.complete``. The marker is the commit point: a step with a marker
never runs again; everything else is reconciled from the markers when a run is loaded.
So after a step only the marker must be durable (fsynced) before the next step starts; the
state file and checkpoint.json are fsynced too only when they hold something the markers
cannot rebuild (outputs, warnings, ``vars``). See docs/format.md, "Durability".
Parallel groups (``parallel.py``) use the same step primitives from worker threads; the
engine's lock serialises every write and every hook call.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from invoke import Call, Collection, Context, Executor
from invoke.exceptions import Exit
from invoke.runners import Local

from ..errors import CheckpointError
from ..store.models import Checkpoint, GroupState, Marker, RunStatus, StepState, StepStatus, utcnow
from .context import RunInfo, StepInfo, _reset_current, _set_current
from .outcomes import (
    error_text,
    exit_code,
    is_json,
    jsonable,
    metadata,
    redact,
    strict_message,
)
from .signals import CheckpointRunner, SignalGuard, Terminated, exit_code_for

if TYPE_CHECKING:
    from pathlib import Path

    from invoke import Config

    from ..plugins.host import PluginHost
    from ..store.lock import WorkflowLock
    from ..store.runs import RunDir, Store
    from .definition import StepSpec, WorkflowDefinition

__all__ = ["Engine", "RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    """Execution options of one run; saved in checkpoint.json and restored on resume."""

    parallel: bool = False
    smart: bool = True
    max_workers: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"parallel": self.parallel, "smart": self.smart, "max_workers": self.max_workers}


class Engine:
    """Executes one invocation of a workflow: a new run, a resume, or a plain run."""

    def __init__(
        self,
        c: Context,
        definition: WorkflowDefinition,
        plugins: PluginHost,
        store: Store | None,
        options: RunOptions,
        lock: WorkflowLock | None = None,
        *,
        project: Path | None = None,
    ) -> None:
        self.c = c
        self.project = project
        self.definition = definition
        self.plugins = plugins
        self.store = store
        self.options = options
        self.lock = lock
        self.run_dir: RunDir | None = None
        self.cp: Checkpoint | None = None
        self.done: set[int] = set()
        self._cursor = 0
        #: True for a run created by this process (no earlier state files to read).
        self._fresh = False
        #: Durations of the steps completed by this process; into checkpoint.json at the end
        #: only, so the per-step rewrite does not grow with them.
        self._durations: dict[str, float] = {}
        #: ``vars`` and the number of warnings in the last durable checkpoint.json.
        self._synced: tuple[str, int] | None = None
        self.guard = SignalGuard()
        #: Serialises checkpoint writes and hook calls (parallel steps run in threads).
        self.mutex = threading.RLock()
        plugins.report_errors_to(self._record_plugin_error)
        if c.config.runners.local is Local:
            c.config.runners.local = CheckpointRunner

    # -- starting ----------------------------------------------------------------------------

    def new_run(self) -> None:
        """Create a run directory and run every step."""
        assert self.store is not None
        now = utcnow()
        project_path = str(self.project or self.store.root.parent)

        def first(run_id: str) -> bytes:
            # The run directory appears with this checkpoint.json in it, never without.
            self.cp = Checkpoint(
                workflow_id=run_id,
                workflow=self.definition.name,
                project_path=project_path,
                started_at=now,
                last_checkpoint=now,
                total_steps=len(self.definition.steps),
                steps=list(self.definition.step_names),
                metadata=metadata(),
            )
            return self.cp.to_json()

        self.run_dir = self.store.create_run(self.definition.name, now, first)
        self._fresh = True
        if self.lock is not None:
            self.lock.record(self.run_dir.run_id)
        self._execute()

    def resume(self, run_dir: RunDir, cp: Checkpoint, rerun_from: int | None) -> None:
        """Continue ``run_dir`` at its first step without a marker (or at ``rerun_from``)."""
        self.run_dir, self.cp = run_dir, cp
        for number in range(len(self.definition.steps)):
            # A corrupt state file stops the resume here, before anything is written.
            run_dir.read_state(number)
        run_dir.sweep_temp_files()
        if rerun_from is not None:
            for number in sorted(run_dir.marker_steps() - set(range(rerun_from))):
                run_dir.remove_marker(number)
        self.done = run_dir.marker_steps()
        cp.metadata = metadata()
        cp.finished_at = None
        self._execute()

    def plain_run(self) -> None:
        """``checkpoints.enabled: false``: run the steps in order, write nothing."""
        self._execute()

    # -- the loop ----------------------------------------------------------------------------

    def _execute(self) -> None:
        rd = self.run_dir
        self.run = RunInfo(
            workflow_id=rd.run_id if rd else "",
            name=self.definition.name,
            path=rd.path if rd else None,
            steps=self.definition.step_names,
            vars=dict(self.cp.vars) if self.cp else {},
            _dir=rd,
        )
        with self.guard:
            if self.cp is not None:
                self._prepare_checkpoint()
            self.plugins.notify("checkpoints_workflow_start", run=self.run)
            self._strict_check()
            for group, batch in self._batches():
                if group is not None and self.options.parallel:
                    from .group import run_group

                    run_group(self, group, [self.definition.steps[n] for n in batch])
                    self._strict_check()
                else:
                    for number in batch:
                        self._sequential(self.definition.steps[number])
                    if group is not None:
                        self.set_group(group, "completed")
            self._finish(RunStatus.COMPLETED)
            if self.plugins.strict_failure is not None:
                # workflow_finish itself raised: the run is complete, the exit code says so.
                raise Exit(strict_message(self.plugins.strict_failure), 1)

    def _batches(self) -> list[tuple[int | None, tuple[int, ...]]]:
        return [
            (self.definition.steps[batch[0]].group, batch) for batch in self.definition.batches()
        ]

    def _prepare_checkpoint(self) -> None:
        cp = self.cp
        assert cp is not None
        cp.status = RunStatus.RUNNING
        cp.completed_steps = sorted(self.done)  # the markers are the truth
        cp.options = self.options.to_json()
        cp.execution_mode.parallel = self.options.parallel
        cp.execution_mode.smart_execution = self.options.smart
        cp.smart_execution.enabled = self.options.smart
        cp.parallel_execution.enabled = self.options.parallel
        cp.parallel_execution.max_workers = self.options.max_workers
        groups = self.definition.groups
        if [g.steps for g in cp.parallel_execution.groups] != [list(g) for g in groups]:
            cp.parallel_execution.groups = [GroupState(steps=list(g)) for g in groups]
        for state, members in zip(cp.parallel_execution.groups, groups, strict=True):
            state.status = "completed" if set(members) <= self.done else "pending"
        cp.environment = self._environment()
        self.save_checkpoint(current=self.first_pending())

    def pending(self, spec: StepSpec) -> StepInfo | None:
        """Announce a step that will not run (complete, skipped) or return it to be run."""
        info = StepInfo.of(spec, self.run)
        if spec.number in self.done:
            self.notify("checkpoints_step_skipped", step=info, reason="already_complete")
            self._strict_check()
            return None
        self.interruption_point(info)
        reason = self.plugins.first("checkpoints_should_skip_step", run=self.run, step=info)
        self._strict_check()
        if reason:
            self._skip(info, str(reason))
            self._strict_check()
            return None
        return info

    def _sequential(self, spec: StepSpec) -> None:
        info = self.pending(spec)
        if info is None:
            return
        state, started = self.begin_step(spec, info)
        token = _set_current(info)
        try:
            with self.guard.step():
                result = self.call_task(spec, self.c.config)
        except (KeyboardInterrupt, Terminated) as exc:
            self.step_ended(state, info, started, exc)
            self.stop(info, exc.signum if isinstance(exc, Terminated) else signal.SIGINT)
        except BaseException as exc:
            self.step_ended(state, info, started, exc)
            if self.guard.received is not None:
                self.stop(info, self.guard.received)
            self.fail(spec.number)
            raise
        finally:
            _reset_current(token)
        self.step_ended(state, info, started, None, result)
        self._strict_check()

    # -- step primitives (thread-safe) -------------------------------------------------------

    def notify(self, hook: str, **kwargs: Any) -> None:
        with self.mutex:
            self.plugins.notify(hook, run=self.run, **kwargs)

    def begin_step(self, spec: StepSpec, info: StepInfo) -> tuple[StepState, float]:
        """Write the ``running`` state and fire ``checkpoints_step_start``."""
        with self.mutex:
            # A brand-new run has no earlier attempt to count.
            fresh = self.run_dir is None or self._fresh
            previous = None if fresh else self.run_dir.read_state(spec.number)  # type: ignore[union-attr]
            state = StepState(
                step=spec.number,
                name=spec.name,
                status=StepStatus.RUNNING,
                args=redact(jsonable(spec.args, info.warnings, "args")),
                started_at=utcnow(),
                attempts=(previous.attempts + 1) if previous else 1,
            )
            # Not fsynced: until the marker exists the step runs again after any crash.
            self._write_state(state, sync=False)
            self.plugins.notify("checkpoints_step_start", run=self.run, step=info)
        return state, time.monotonic()

    def call_task(self, spec: StepSpec, config: Config) -> Any:
        """Run the step's task with its pre/post tasks, the way Invoke's Executor expands them."""
        executor = Executor(Collection(), config=config)
        main = Call(spec.task, kwargs=dict(spec.args))
        calls = executor.expand_calls([main])
        if config.get("tasks", {}).get("dedupe", True):
            calls = executor.dedupe(calls)
        result = None
        for call in calls:
            value = call.task(self._fresh_context(config), *call.args, **call.kwargs)
            if call is main:
                result = value
        return result

    def _fresh_context(self, config: Config) -> Context:
        # Like Executor: a new Context per call on the same config (Invoke 3 adds `remainder`).
        remainder = getattr(self.c, "remainder", None)
        if remainder is None:
            return Context(config=config)
        return Context(config=config, remainder=remainder)  # type: ignore[call-arg,unused-ignore]

    def step_ended(
        self,
        state: StepState,
        info: StepInfo,
        started: float,
        error: BaseException | None,
        result: Any = None,
    ) -> None:
        """Record the outcome: state file, checkpoint.json, then the marker (the commit point)."""
        if error is None and result is not None and is_json(result):
            info.outputs["result"] = result
        with self.mutex:
            state.duration_seconds = round(time.monotonic() - started, 3)
            state.completed_at = utcnow()
            state.outputs = jsonable(info.outputs, info.warnings, "outputs")
            state.warnings = list(info.warnings)
            if error is None:
                self._commit(state, info)
                return
            interrupted = isinstance(error, (KeyboardInterrupt, Terminated))
            interrupted = interrupted or self.guard.received is not None
            state.status = StepStatus.INTERRUPTED if interrupted else StepStatus.FAILED
            state.exit_code = exit_code(error, self.guard.received)
            state.errors = [error_text(error)]
            self._write_state(state)
            self.plugins.notify(
                "checkpoints_step_failed", run=self.run, step=info, state=state, error=error
            )

    def _commit(self, state: StepState, info: StepInfo) -> None:
        """Durable where it matters: the final state (outputs) and the marker (commit point).

        checkpoint.json is fsynced without its directory: the marker's directory fsync right
        after persists both renames, and completion is reconciled from markers anyway.
        """
        state.status, state.exit_code = StepStatus.COMPLETED, 0
        # Step, name, time and duration are in the marker: a state file holding nothing more
        # is rebuilt from it after a power cut, so it needs no fsync of its own.
        self._write_state(state, sync=bool(state.outputs or state.warnings))
        self.done.add(state.step)
        if self.cp is not None:
            if self.cp.completed_steps and self.cp.completed_steps[-1] < state.step:
                self.cp.completed_steps.append(state.step)  # the usual, in-order case
            else:
                bisect.insort(self.cp.completed_steps, state.step)
            self._durations[state.name] = state.duration_seconds or 0.0
        self.save_checkpoint(current=self.first_pending(), rebuildable=True, sync_dir=False)
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
        self.plugins.notify("checkpoints_step_complete", run=self.run, step=info, state=state)

    def _skip(self, info: StepInfo, reason: str) -> None:
        now = utcnow()
        state = StepState(
            step=info.number,
            name=info.name,
            status=StepStatus.SKIPPED,
            started_at=now,
            completed_at=now,
            duration_seconds=0.0,
            reason=reason,
        )
        with self.mutex:
            # Not fsynced: a skip is decided again on resume.
            self._write_state(state, sync=False)
            if self.cp is not None:
                smart = self.cp.smart_execution
                if info.number not in smart.skipped_steps:
                    smart.skipped_steps.append(info.number)
                smart.skip_reason = reason
                smart.reasons[str(info.number)] = reason
            self.plugins.notify("checkpoints_step_skipped", run=self.run, step=info, reason=reason)

    # -- stopping ----------------------------------------------------------------------------

    def interruption_point(self, info: StepInfo) -> None:
        """Act on a signal that arrived while a checkpoint was being written."""
        try:
            self.guard.check()
        except (KeyboardInterrupt, Terminated) as exc:
            self.stop(info, exc.signum if isinstance(exc, Terminated) else signal.SIGINT)

    def stop(self, info: StepInfo, signum: int) -> None:
        self._finish(RunStatus.INTERRUPTED, current=info.number)
        name = signal.Signals(signum).name
        where = f"; resume with: invoke {self.run.name} --resume" if self.run_dir else ""
        message = f"{name}: stopped at step {info.number} ({info.name}){where}"
        raise Exit(message, exit_code_for(signum))

    def fail(self, current: int) -> None:
        self._finish(RunStatus.FAILED, current=current)

    def _finish(self, status: RunStatus, current: int | None = None) -> None:
        with self.mutex:
            if self.cp is not None:
                self.cp.status = status
                self.cp.finished_at = utcnow()
                self._record_durations()
                self.save_checkpoint(current=None if status is RunStatus.COMPLETED else current)
            self.run.status = status.value
            noted = len(self.cp.warnings) if self.cp is not None else 0
            self.plugins.notify("checkpoints_workflow_finish", run=self.run, status=status.value)
            if self.cp is not None and len(self.cp.warnings) > noted:
                # A finish hook raised: keep its warning (the final status is already on disk).
                self.save_checkpoint(current=self.cp.current_step)

    def _strict_check(self) -> None:
        """With ``checkpoints.strict_plugins``, a hook that raised fails the run here.

        Called only where every checkpoint file is consistent (between steps).
        """
        failure = self.plugins.take_strict_failure()
        if failure is None:
            return
        self._finish(RunStatus.FAILED, current=self.first_pending())
        raise Exit(strict_message(failure), 1)

    # -- writing -----------------------------------------------------------------------------

    def first_pending(self) -> int | None:
        """The first step without a marker (amortised O(1))."""
        total = len(self.definition.steps)
        # `done` only grows while a run executes, so the first gap only moves forward.
        while self._cursor < total and self._cursor in self.done:
            self._cursor += 1
        return self._cursor if self._cursor < total else None

    def set_group(self, group: int, status: str) -> None:
        with self.mutex:
            if self.cp is not None:
                self.cp.parallel_execution.groups[group].status = status  # type: ignore[assignment]
                # Group states are recomputed from the markers on resume.
                self.save_checkpoint(current=self.first_pending(), rebuildable=True)

    def _write_state(self, state: StepState, *, sync: bool = True) -> None:
        if self.run_dir is not None:
            self.run_dir.write_state(state, sync=sync)

    def save_checkpoint(
        self, current: int | None, *, rebuildable: bool = False, sync_dir: bool = True
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
            cp.vars = jsonable(self.run.vars, cp.warnings, "vars")
            # Serialised, so that a list in vars changed in place counts as a change. No
            # sort_keys: a nested dict may mix key types (jsonable accepted it as it is).
            synced = (json.dumps(cp.vars), len(cp.warnings))
            durable = not rebuildable or synced != self._synced
            self.run_dir.write_checkpoint(cp, sync=durable, sync_dir=sync_dir)
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

    def _record_plugin_error(self, message: str) -> None:
        if self.cp is not None:
            self.cp.warnings.append(message)

    def _environment(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        for name, result in self.plugins.each("checkpoints_environment", run=self.run):
            if name == "environment":
                env.update(result)
            else:
                env[name] = result
        return dict(redact(jsonable(env, self.cp.warnings if self.cp else [], "environment")))
