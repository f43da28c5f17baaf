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

from ..store.models import RunStatus, StepState, StepStatus, utcnow
from ..store.vocabulary import now_precise
from .context import StepInfo
from .isolation import CallLedger, StartPoint
from .naming import step_signature
from .outcomes import error_text, exit_code, is_json, jsonable, redact, strict_message
from .signals import SignalGuard, Terminated, exit_code_for

if TYPE_CHECKING:
    from collections.abc import Sequence

    from invoke import Config

    from ..plugins.host import PluginHost
    from .context import RunInfo
    from .definition import StepSpec
    from .record import Recorder

__all__ = ["StepExecutor"]


class StepExecutor:
    """Step primitives for one invocation; thread-safe (the recorder's mutex serialises writes
    and hook calls)."""

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
        self.plugins = plugins
        self.recorder = recorder
        self.run = run
        self.guard = SignalGuard()
        #: ``--quiet``: a successful step's own output is held back and dropped.
        self.quiet = quiet
        #: The collection the steps' tasks were found in (their config comes from it).
        self.root = recorder.definition.root
        #: Pre/post calls already run in this invocation (``tasks.dedupe``).
        self.ran = CallLedger()
        #: Where the workflow started: every step starts there again (``restored()``).
        self.start = StartPoint()

    # -- announcing --------------------------------------------------------------------------

    def notify(self, hook: str, **kwargs: Any) -> None:
        with self.recorder.mutex:
            self.plugins.notify(hook, run=self.run, **kwargs)

    def pending(self, spec: StepSpec) -> StepInfo | None:
        """Announce a step that will not run (complete, skipped) or return it to be run."""
        info = StepInfo.of(spec, self.run)
        if spec.number in self.recorder.done:
            self.notify("checkpoints_step_skipped", step=info, reason="already_complete")
            self.strict_check()
            return None
        self.interruption_point(info)
        reason = self.plugins.first("checkpoints_should_skip_step", run=self.run, step=info)
        self.strict_check()
        if reason:
            self._skip(info, str(reason))
            self.strict_check()
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
            self.plugins.notify("checkpoints_step_skipped", run=self.run, step=info, reason=reason)

    # -- running -----------------------------------------------------------------------------

    def begin(self, spec: StepSpec, info: StepInfo) -> tuple[StepState, float]:
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
                signature=step_signature(spec),
            )
            # Not fsynced: until the marker exists the step runs again after any crash.
            self.recorder.write_state(state, sync=False)
            self.plugins.notify("checkpoints_step_start", run=self.run, step=info)
        return state, time.monotonic()

    def call_task(self, spec: StepSpec, config: Config | None = None) -> Any:
        """Run the step's task with its pre/post tasks, the way Invoke's Executor runs them.

        Each call gets the config ``invoke <its name>`` would give it: the step's own task the
        config of its collection path (``docs.build``: the ``docs`` collection's), pre/post
        tasks the root collection's. With ``tasks.dedupe`` (Invoke's default) a pre/post task
        already run in this invocation, by this step or an earlier one, is not run again, as
        with ``invoke lint test``; the step's own task always runs.
        """
        config = config or self.config
        executor = Executor(Collection(), config=config)
        main = Call(spec.task, kwargs=dict(spec.args))
        calls = executor.expand_calls([main])
        dedupe = bool(config.get("tasks", {}).get("dedupe", True))
        if dedupe:
            calls = executor.dedupe(calls)
        root = self.root
        result = None
        for call in calls:
            claim = self.ran.claim(call) if dedupe and call is not main else None
            if claim is False:
                continue
            ok = False
            try:
                if root is not None:
                    config.load_collection(root.configuration(spec.path if call is main else None))
                    config.load_shell_env()
                value = call.task(self._context(config), *call.args, **call.kwargs)
                ok = True
            finally:
                if claim is True:
                    self.ran.done(call, ok)
            if call is main:
                result = value
                if dedupe:
                    self.ran.add(main)  # `invoke build test` with test's pre=[build]: once
        return result

    def _context(self, config: Config) -> Context:
        # Like Executor: a new Context per call on the same config (Invoke 3 adds `remainder`).
        if self._remainder is None:
            return Context(config=config)
        return Context(config=config, remainder=self._remainder)  # type: ignore[call-arg,unused-ignore]

    def ended(
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
        with self.recorder.mutex:
            state.duration_seconds = round(time.monotonic() - started, 3)
            state.completed_at = utcnow()
            state.outputs = jsonable(info.outputs, info.warnings, "outputs")
            state.warnings = list(info.warnings)
            if error is None:
                state.status, state.exit_code = StepStatus.COMPLETED, 0
                self.recorder.commit(state, self.run)
                self.plugins.notify(
                    "checkpoints_step_complete", run=self.run, step=info, state=state
                )
                return
            interrupted = isinstance(error, (KeyboardInterrupt, Terminated))
            interrupted = interrupted or self.guard.received is not None
            state.status = StepStatus.INTERRUPTED if interrupted else StepStatus.FAILED
            state.exit_code = exit_code(error, self.guard.received)
            state.errors = [error_text(error)]
            self.recorder.write_state(state)
            self.plugins.notify(
                "checkpoints_step_failed", run=self.run, step=info, state=state, error=error
            )

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
        where = f"; resume with: invoke {self.run.name} --resume" if resumable else ""
        stopped = [info, *also]
        which = ", ".join(f"{s.number} ({s.name})" for s in stopped)
        noun = "steps" if len(stopped) > 1 else "step"
        message = f"{name}: stopped at {noun} {which}{where}"
        raise Exit(message, exit_code_for(signum))

    def fail(self, current: int) -> None:
        self.finish(RunStatus.FAILED, current=current)

    def finish(self, status: RunStatus, current: int | None = None) -> None:
        """Record the final status, then fire ``checkpoints_workflow_finish``."""
        recorder = self.recorder
        with recorder.mutex:
            recorder.finish(self.run, status, current)
            self.run.status = status.value
            noted = len(recorder.warnings)
            self.plugins.notify("checkpoints_workflow_finish", run=self.run, status=status.value)
            if recorder.cp is not None and len(recorder.warnings) > noted:
                # A finish hook raised: keep its warning (the final status is already on disk).
                recorder.save(self.run, current=recorder.cp.current_step)

    def strict_check(self) -> None:
        """With ``checkpoints.strict_plugins``, a hook that raised fails the run here.

        Called only where every checkpoint file is consistent (between steps).
        """
        failure = self.plugins.take_strict_failure()
        if failure is None:
            return
        self.finish(RunStatus.FAILED, current=self.recorder.first_pending())
        raise Exit(strict_message(failure), 1)
