"""Executing one step: announce it, run its task with its pre/post tasks, record the outcome.

:class:`StepExecutor` holds what every step of one invocation shares (the Invoke config, the
plugin host, the :class:`Recorder`, the signal guard). The sequential loop (``engine.py``) and
parallel groups (``group.py``) both drive steps through it, so neither calls the other.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING, Any

from invoke import Call, Collection, Context, Executor
from invoke.exceptions import Exit

from ..store.records import StepState
from ..store.vocabulary import RunStatus, StepStatus, now_precise, utcnow
from .context import StepInfo
from .isolation import CallLedger, StartPoint
from .naming import Signatures
from .outcomes import (
    bounded,
    clean_text,
    error_text,
    exit_code,
    json_shaped,
    jsonable,
    one_line,
    redact,
    strict_message,
    system_exit_code,
)
from .signals import SignalGuard, Terminated, exit_code_for, watching_children
from .taskconfig import TaskConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from invoke import Config

    from ..plugins.host import PluginHost
    from .context import RunInfo
    from .definition import StepSpec
    from .record import Recorder

__all__ = ["StepExecutor"]


class StepExecutor:
    """Step primitives for one invocation; thread-safe (the recorder's mutex serialises writes;
    the plugin host serialises hook calls, outside that mutex, so a slow hook never holds up
    another step's checkpoint)."""

    def __init__(
        self,
        config: Config,
        remainder: str | None,
        plugins: PluginHost,
        recorder: Recorder,
        run: RunInfo,
        *,
        quiet: bool = False,
    ) -> None:
        #: The config steps run with (Invoke's, with the checkpoint runner).
        self.config = config
        self._remainder = remainder
        self.plugins, self.recorder, self.run = plugins, recorder, run
        self.guard = SignalGuard()
        #: The ``running`` state of each step executing now (its child pid goes there).
        self._running: dict[int, StepState] = {}
        #: ``--quiet``: a successful step's own output is held back and dropped.
        self.quiet = quiet
        #: The collection the steps' tasks were found in (their config comes from it).
        self.root = recorder.definition.root
        #: Loads each call's collection config and shell env, as Invoke's Executor does.
        self.task_config = TaskConfig(self.root)
        #: Pre/post calls already run in this invocation (``tasks.dedupe``).
        self.ran = CallLedger()
        #: Where the workflow started: every step starts there again (``restored()``).
        self.start = StartPoint()
        self.signatures = Signatures(recorder.definition.steps, recorder.done)

    # -- announcing --------------------------------------------------------------------------

    def notify(self, hook: str, **kwargs: Any) -> None:
        self.plugins.notify(hook, run=self.run, **kwargs)

    def pending(self, spec: StepSpec, *, last: bool = False) -> StepInfo | None:
        """Announce a step that will not run (complete, skipped) or return it to be run.

        ``last``: nothing runs after it, so a strict failure waits for the run's end.
        """
        info = StepInfo.of(spec, self.run)
        if spec.number in self.recorder.done:
            self.notify("checkpoints_step_skipped", step=info, reason="already_complete")
            self.strict_check(last=last)
            return None
        self.interruption_point(info)
        reason = self.plugins.first("checkpoints_should_skip_step", run=self.run, step=info)
        self.strict_check()
        if reason:
            self._skip(info, one_line(str(reason)))
            self.strict_check(last=last)
            return None
        return info

    def _skip(self, info: StepInfo, reason: str) -> None:
        now, epoch = now_precise()
        state = StepState(
            step=info.number,
            name=info.name,
            status=StepStatus.SKIPPED,
            started_at=now,
            started_at_epoch=epoch,
            completed_at=now,
            duration_seconds=0.0,
            reason=reason,
        )
        with self.recorder.mutex:
            self.recorder.skipped(state)
            self.run.record_state(state)
        self.notify("checkpoints_step_skipped", step=info, reason=reason)

    # -- running -----------------------------------------------------------------------------

    def begin(self, spec: StepSpec, info: StepInfo) -> StepState:
        """Write the ``running`` state and fire ``checkpoints_step_start``."""
        with self.recorder.mutex:
            count, earlier = self.recorder.earlier_attempts(spec.number)
            now, epoch = now_precise()
            state = StepState(
                step=spec.number,
                name=spec.name,
                status=StepStatus.RUNNING,
                args=redact(jsonable(spec.args, info.warnings, "args")),
                started_at=now,
                started_at_epoch=epoch,
                attempts=count + 1,
                previous_attempts=earlier,
                signature=self.signatures.of(spec),
            )
            # Written only if the step is still running 0.1 s from now (or starts a command).
            self.recorder.running(state)
            self._running[spec.number] = state
            self.run.record_state(state)
        self.notify("checkpoints_step_start", step=info)
        return state

    def execute(
        self, spec: StepSpec, info: StepInfo, spent: list[float], config: Config | None = None
    ) -> Any:
        """Run the step's task inside the ``checkpoints_run_step`` wrappers; returns its result.

        ``spent`` receives the seconds the task itself took (each execution, retries
        included): a step's duration never counts hook or wrapper time.
        """

        def once() -> Any:
            started = time.monotonic()
            try:
                return self.call_task(spec, config)
            finally:
                spent.append(time.monotonic() - started)

        return self.plugins.run_step(once, self.run, info)

    def call_task(self, spec: StepSpec, config: Config | None = None) -> Any:
        """Run the step's task with its pre/post tasks, the way Invoke's Executor runs them.

        Each call gets the config ``invoke <its name>`` would give it: the step's own task the
        config of its collection path (``docs.build``: the ``docs`` collection's), pre/post
        tasks the root collection's. With ``tasks.dedupe`` (Invoke's default) a pre/post task
        already run in this invocation, by this step or an earlier one, is not run again, as
        with ``invoke lint test``; the step's own task always runs.
        """
        config = config or self.config
        main = Call(spec.task, kwargs=dict(spec.args))
        dedupe = bool(config.get("tasks", {}).get("dedupe", True))
        calls = [main]  # what Executor expands and dedupes a task without pre/post tasks to
        if spec.task.pre or spec.task.post:
            executor = Executor(Collection(), config=config)
            calls = executor.expand_calls(calls)
            calls = executor.dedupe(calls) if dedupe else calls
        result = None
        with watching_children(self._child_started(spec.number)):
            for call in calls:
                claim = self.ran.claim(call) if dedupe and call is not main else None
                if claim is False:
                    continue
                ok = False
                try:
                    self.task_config.load(config, spec.path if call is main else None)
                    value = call.task(self._context(config), *call.args, **call.kwargs)
                    ok = True
                except SystemExit as exc:
                    if exc.code is None or exc.code == 0:
                        ok = True
                        return None  # sys.exit(0): the step ends, successfully
                    code = system_exit_code(exc)
                    if not isinstance(exc.code, str) and code != exc.code:
                        raise SystemExit(code) from exc  # 256 would wrap round to 0
                    raise
                finally:
                    if claim is True:
                        self.ran.done(call, ok)
                if call is main:
                    result = value
                    if dedupe:
                        self.ran.add(main)  # `invoke build test` with test's pre=[build]: once
        return result

    def _child_started(self, step: int) -> Callable[[int, int | None], None]:
        """Record a child process of ``step`` in its state file while it runs, so that a resume
        after this process is killed refuses while that child still lives."""

        def record(pid: int, started: int | None) -> None:
            with self.recorder.mutex:
                state = self._running.get(step)
                if state is None or state.status is not StepStatus.RUNNING:
                    return
                state.child_pid, state.child_started = pid, started
                # Not fsynced: after a power cut no child survives.
                self.recorder.started_command(state)

        return record

    def _context(self, config: Config) -> Context:
        # Like Executor: a new Context per call on the same config (Invoke 3 adds `remainder`).
        if self._remainder is None:
            return Context(config=config)
        return Context(config=config, remainder=self._remainder)  # type: ignore[call-arg,unused-ignore]

    def ended(
        self,
        state: StepState,
        info: StepInfo,
        spent: list[float],
        error: BaseException | None,
        result: Any = None,
    ) -> None:
        """Record the outcome: state file, checkpoint.json, then the marker (the commit point).

        Measured before waiting for the recorder: another step's checkpoint or hook never
        lengthens this one's duration.
        """
        duration, completed_at = round(sum(spent), 3), utcnow()
        if error is None and result is not None and json_shaped(result):
            given: object = info.outputs  # a dict, unless a step assigned something else
            if not isinstance(given, dict):
                info.outputs = jsonable(given, info.warnings, "outputs")
            info.outputs["result"] = result  # saved in a safe form, with a warning, if need be
        with self.recorder.mutex:
            self._running.pop(state.step, None)
            self.recorder.stopped(state.step)
            state.child_pid = state.child_started = None
            state.duration_seconds = duration
            state.completed_at = completed_at
            outputs = jsonable(info.outputs, info.warnings, "outputs")
            state.outputs = bounded(outputs, info.warnings, "outputs")
            state.warnings = [clean_text(str(w)) for w in info.warnings]
            if error is None:
                state.status, state.exit_code = StepStatus.COMPLETED, 0
                self.recorder.commit(state, self.run)
            else:
                interrupted = isinstance(error, (KeyboardInterrupt, Terminated))
                interrupted = interrupted or self.guard.received is not None
                state.status = StepStatus.INTERRUPTED if interrupted else StepStatus.FAILED
                state.exit_code = exit_code(error, self.guard.received)
                state.errors = [error_text(error)]
                self.recorder.write_state(state)
            self.run.record_state(state)
        if error is None:
            self.notify("checkpoints_step_complete", step=info, state=state)
        else:
            self.notify("checkpoints_step_failed", step=info, state=state, error=error)

    # -- stopping ----------------------------------------------------------------------------

    def interruption_point(self, info: StepInfo) -> None:
        """Act on a signal that arrived while a checkpoint was being written."""
        try:
            self.guard.check()
        except (KeyboardInterrupt, Terminated) as exc:
            self.stop(info, exc.signum if isinstance(exc, Terminated) else signal.SIGINT)

    def stop(self, info: StepInfo, signum: int, also: Sequence[StepInfo] = ()) -> None:
        """Record the run interrupted at ``info`` and exit 128+signum; ``also``: the other
        steps of a parallel group that were running."""
        self.finish(RunStatus.INTERRUPTED, current=info.number)
        name = signal.Signals(signum).name
        resumable = self.recorder.run_dir is not None
        where = f"; resume with: {self._resume_command()}" if resumable else ""
        stopped = [info, *also]
        which = ", ".join(f"{s.number} ({s.name})" for s in stopped)
        noun = "steps" if len(stopped) > 1 else "step"
        message = f"{name}: stopped at {noun} {which}{where}"
        raise Exit(message, exit_code_for(signum))

    def _resume_command(self) -> str:
        from ..store.status import resume_command

        auto_dash = self.config.get("tasks", {}).get("auto_dash_names", True)
        return resume_command(self.run.name, auto_dash=bool(auto_dash))

    def signalled_after_finish(self) -> None:
        """Exit 128+n for a signal that arrived after the last step, during the final write
        (the run is recorded ``completed``: it did complete)."""
        signum = self.guard.received
        if signum is None:
            return
        name = signal.Signals(signum).name
        where = f"run {self.run.workflow_id} " if self.run.workflow_id else ""
        raise Exit(
            f"{name} arrived after the last step: {where}completed, but stopped by a signal",
            exit_code_for(signum),
        )

    def fail(self, current: int) -> None:
        self.finish(RunStatus.FAILED, current=current)

    def finish(self, status: RunStatus, current: int | None = None) -> None:
        """Record the final status, then fire ``checkpoints_workflow_finish``."""
        recorder = self.recorder
        with recorder.mutex:
            recorder.finish(self.run, status, current)
            self.run.status = status.value
            noted = len(recorder.warnings)
        self.notify("checkpoints_workflow_finish", status=status.value)
        with recorder.mutex:
            if recorder.cp is not None and len(recorder.warnings) > noted:
                # A finish hook raised: keep its warning (the final status is already on disk).
                recorder.save(self.run, current=recorder.cp.current_step)

    def strict_check(self, *, last: bool = False) -> None:
        """With ``checkpoints.strict_plugins``, a hook that raised fails the run here.

        Called only where every checkpoint file is consistent (between steps). ``last``: no
        step runs after this point, so the run ends as it is (completed) and the engine exits
        1 after recording it (docs/plugins.md, "Strict mode").
        """
        if last or self.plugins.strict_failure is None:
            return
        failure = self.plugins.take_strict_failure()
        if failure is None:
            return
        self.finish(RunStatus.FAILED, current=self.recorder.first_pending())
        raise Exit(strict_message(failure), 1)
