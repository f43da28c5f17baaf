"""Running and resuming the steps of a workflow, with a checkpoint around every step.

Write order for a step: state file (``running``) -> task runs -> state file (final) ->
checkpoint.json -> ``step_NN.complete``. The marker is the commit point: a step with a marker
never runs again; everything else is reconciled from the markers when a run is loaded.
"""

from __future__ import annotations

import json
import os
import signal
import time
import traceback
from typing import TYPE_CHECKING, Any

from invoke import Call, Collection, Context, Executor
from invoke.exceptions import Exit, UnexpectedExit
from invoke.runners import Local

from .context import RunInfo, StepInfo, _reset_current, _set_current
from .errors import IncompatibleRunError, UnknownRunError
from .models import Checkpoint, Marker, Metadata, RunStatus, StepState, StepStatus, utcnow
from .signals import CheckpointRunner, SignalGuard, Terminated, exit_code_for

if TYPE_CHECKING:
    from .collection import StepSpec, WorkflowDefinition
    from .config import Settings
    from .manager import PluginHost
    from .store import RunDir, Store, WorkflowLock

__all__ = ["Engine", "check_compatible", "load_run"]


class Engine:
    """Executes one invocation of a workflow: a new run, a resume, or a plain run."""

    def __init__(
        self,
        c: Context,
        definition: WorkflowDefinition,
        settings: Settings,
        plugins: PluginHost,
        store: Store | None,
        lock: WorkflowLock | None = None,
    ) -> None:
        self.c = c
        self.lock = lock
        self.definition = definition
        self.settings = settings
        self.plugins = plugins
        self.store = store
        self.run_dir: RunDir | None = None
        self.cp: Checkpoint | None = None
        self.done: set[int] = set()
        self.guard = SignalGuard()
        plugins.on_error = self._record_plugin_error
        if c.config.runners.local is Local:
            c.config.runners.local = CheckpointRunner

    # -- starting ----------------------------------------------------------------------------

    def new_run(self) -> None:
        """Create a run directory and run every step."""
        assert self.store is not None
        now = utcnow()
        self.run_dir = self.store.create_run(self.definition.name, now)
        if self.lock is not None:
            self.lock.record(self.run_dir.run_id)
        self.cp = Checkpoint(
            workflow_id=self.run_dir.run_id,
            workflow=self.definition.name,
            project_path=str(self.store.root.parent),
            started_at=now,
            last_checkpoint=now,
            total_steps=len(self.definition.steps),
            steps=list(self.definition.step_names),
            metadata=_metadata(),
            options=dict(self.definition.options),
        )
        self._execute(first=0)

    def resume(self, run_dir: RunDir, cp: Checkpoint, rerun_from: int | None) -> None:
        """Continue ``run_dir`` at its first step without a marker (or at ``rerun_from``)."""
        self.run_dir, self.cp = run_dir, cp
        run_dir.sweep_temp_files()
        if rerun_from is not None:
            for number in sorted(self.done_steps(run_dir) - set(range(rerun_from))):
                run_dir.remove_marker(number)
        self.done = self.done_steps(run_dir)
        self.cp.metadata = _metadata()
        self.cp.finished_at = None
        first = next((n for n in range(len(self.definition.steps)) if n not in self.done), 0)
        self._execute(first=first)

    def plain_run(self) -> None:
        """``checkpoints.enabled: false``: run the steps in order, write nothing."""
        self._execute(first=0)

    @staticmethod
    def done_steps(run_dir: RunDir) -> set[int]:
        return run_dir.marker_steps()

    # -- the loop ----------------------------------------------------------------------------

    def _execute(self, first: int) -> None:
        steps = self.definition.step_names
        rd = self.run_dir
        run = RunInfo(
            workflow_id=rd.run_id if rd else "",
            name=self.definition.name,
            path=rd.path if rd else None,
            steps=steps,
            vars=dict(self.cp.vars) if self.cp else {},
            _dir=rd,
        )
        self.run = run
        with self.guard:
            if self.cp is not None:
                self.cp.status = RunStatus.RUNNING
                self.cp.environment = self._environment(run)
                self._save_checkpoint(current=first)
            self.plugins.notify("checkpoints_workflow_start", run=run)
            self._strict_check()
            for spec in self.definition.steps:
                info = StepInfo(spec.number, spec.name, spec.task, run)
                if spec.number in self.done or spec.number < first:
                    self.plugins.notify(
                        "checkpoints_step_skipped", run=run, step=info, reason="already_complete"
                    )
                    continue
                self._interruption_point(info)
                reason = self.plugins.first("checkpoints_should_skip_step", run=run, step=info)
                if reason:
                    self._skip(info, str(reason))
                    continue
                self._run_step(spec, info)
                self._strict_check()
            self._finish(RunStatus.COMPLETED)
            if self.plugins.strict_failure is not None:
                # workflow_finish itself raised: the run is complete, the exit code says so.
                raise Exit(_strict_message(self.plugins.strict_failure), 1)

    def _run_step(self, spec: StepSpec, info: StepInfo) -> None:
        previous = self.run_dir.read_state(spec.number) if self.run_dir else None
        state = StepState(
            step=spec.number,
            name=spec.name,
            status=StepStatus.RUNNING,
            started_at=utcnow(),
            attempts=(previous.attempts + 1) if previous else 1,
        )
        self._write_state(state)
        self.plugins.notify("checkpoints_step_start", run=self.run, step=info)
        started = time.monotonic()
        token = _set_current(info)
        try:
            with self.guard.step():
                result = self._call_task(spec)
        except (KeyboardInterrupt, Terminated) as exc:
            self._step_ended(state, info, started, exc)
            signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
            self._stop(info, signum)
        except BaseException as exc:
            self._step_ended(state, info, started, exc)
            if self.guard.received is not None:
                self._stop(info, self.guard.received)
            self._finish(RunStatus.FAILED, current=spec.number)
            raise
        finally:
            _reset_current(token)
        if result is not None and _is_json(result):
            info.outputs["result"] = result
        self._step_ended(state, info, started, None)

    def _call_task(self, spec: StepSpec) -> Any:
        """Run the step's task with its pre/post tasks, the way Invoke's Executor expands them."""
        executor = Executor(Collection(), config=self.c.config)
        main = Call(spec.task, kwargs=dict(spec.args))
        calls = executor.expand_calls([main])
        if self.c.config.get("tasks", {}).get("dedupe", True):
            calls = executor.dedupe(calls)
        result = None
        for call in calls:
            value = call.task(self._fresh_context(), *call.args, **call.kwargs)
            if call is main:
                result = value
        return result

    def _fresh_context(self) -> Context:
        # Like Executor: a new Context per call on the same config (Invoke 3 adds `remainder`).
        remainder = getattr(self.c, "remainder", None)
        if remainder is None:
            return Context(config=self.c.config)
        return Context(config=self.c.config, remainder=remainder)  # type: ignore[call-arg,unused-ignore]

    def _step_ended(
        self, state: StepState, info: StepInfo, started: float, error: BaseException | None
    ) -> None:
        state.duration_seconds = round(time.monotonic() - started, 3)
        state.completed_at = utcnow()
        state.outputs = _jsonable(info.outputs, info.warnings, "outputs")
        state.warnings = list(info.warnings)
        if error is None:
            state.status, state.exit_code = StepStatus.COMPLETED, 0
            self._write_state(state)
            self.done.add(state.step)
            self._save_checkpoint(current=self._next_step(state.step))
            if self.run_dir is not None:
                self.run_dir.write_marker(
                    Marker(
                        STEP=state.step,
                        NAME=state.name,
                        COMPLETED_AT=state.completed_at,
                        DURATION_SECONDS=state.duration_seconds,
                    )
                )
            self.plugins.notify("checkpoints_step_complete", run=self.run, step=info, state=state)
            return
        interrupted = isinstance(error, (KeyboardInterrupt, Terminated)) or (
            self.guard.received is not None
        )
        state.status = StepStatus.INTERRUPTED if interrupted else StepStatus.FAILED
        state.exit_code = _exit_code(error, self.guard.received)
        state.errors = [_error_text(error)]
        self._write_state(state)
        self.plugins.notify(
            "checkpoints_step_failed", run=self.run, step=info, state=state, error=error
        )

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
        self._write_state(state)
        if self.cp is not None:
            smart = self.cp.smart_execution
            if info.number not in smart.skipped_steps:
                smart.skipped_steps.append(info.number)
            smart.skip_reason = reason
            smart.reasons[str(info.number)] = reason
        self.plugins.notify("checkpoints_step_skipped", run=self.run, step=info, reason=reason)

    # -- stopping ----------------------------------------------------------------------------

    def _interruption_point(self, info: StepInfo) -> None:
        try:
            self.guard.check()
        except (KeyboardInterrupt, Terminated) as exc:
            self._stop(info, exc.signum if isinstance(exc, Terminated) else signal.SIGINT)

    def _stop(self, info: StepInfo, signum: int) -> None:
        self._finish(RunStatus.INTERRUPTED, current=info.number)
        name = signal.Signals(signum).name
        where = f"; resume with: invoke {self.run.name} --resume" if self.run_dir else ""
        raise Exit(
            f"{name}: stopped at step {info.number} ({info.name}){where}", exit_code_for(signum)
        )

    def _finish(self, status: RunStatus, current: int | None = None) -> None:
        if self.cp is not None:
            self.cp.status = status
            self.cp.finished_at = utcnow()
            self._save_checkpoint(current=None if status is RunStatus.COMPLETED else current)
        self.run.status = status.value
        self.plugins.notify("checkpoints_workflow_finish", run=self.run, status=status.value)

    def _strict_check(self) -> None:
        """With ``checkpoints.strict_plugins``, a hook that raised fails the run here.

        Called only where every checkpoint file is consistent (between steps).
        """
        failure = self.plugins.strict_failure
        if failure is None:
            return
        self.plugins.strict_failure = None
        self._finish(RunStatus.FAILED, current=self._next_step(-1))
        raise Exit(_strict_message(failure), 1)

    # -- writing -----------------------------------------------------------------------------

    def _next_step(self, after: int) -> int | None:
        total = len(self.definition.steps)
        return next((n for n in range(after + 1, total) if n not in self.done), None)

    def _write_state(self, state: StepState) -> None:
        if self.run_dir is not None:
            self.run_dir.write_state(state)

    def _save_checkpoint(self, current: int | None) -> None:
        if self.cp is None or self.run_dir is None:
            return
        cp = self.cp
        cp.completed_steps = sorted(self.done)
        cp.current_step = current
        cp.last_checkpoint = utcnow()
        cp.vars = _jsonable(self.run.vars, cp.warnings, "vars")
        self.run_dir.write_checkpoint(cp)

    def _record_plugin_error(self, message: str) -> None:
        if self.cp is not None:
            self.cp.warnings.append(message)

    def _environment(self, run: RunInfo) -> dict[str, Any]:
        env: dict[str, Any] = {}
        for name, result in self.plugins.each("checkpoints_environment", run=run):
            if not isinstance(result, dict):
                self._record_plugin_error(
                    f"plugin {name!r}: checkpoints_environment must return a dict"
                )
            elif name == "environment":
                env.update(result)
            else:
                env[name] = result
        return _jsonable(env, self.cp.warnings if self.cp else [], "environment")


def check_compatible(cp: Checkpoint, definition: WorkflowDefinition, run_dir: RunDir) -> None:
    """Refuse to resume a run recorded for another workflow or another list of steps."""
    expected = list(definition.step_names)
    if cp.workflow != definition.name:
        raise IncompatibleRunError(
            f"run {run_dir.run_id} belongs to workflow {cp.workflow!r}, not {definition.name!r}",
            run_id=run_dir.run_id,
        )
    if cp.steps != expected:
        diff = next(
            (i for i, (a, b) in enumerate(zip(cp.steps, expected, strict=False)) if a != b),
            min(len(cp.steps), len(expected)),
        )
        raise IncompatibleRunError(
            f"run {run_dir.run_id} was recorded with steps [{', '.join(cp.steps)}] but "
            f"workflow {definition.name!r} now has [{', '.join(expected)}] (they differ at "
            f"step {diff}); start a new run with `invoke {definition.name}`",
            run_id=run_dir.run_id,
        )


def load_run(store: Store, definition: WorkflowDefinition, run_id: str | None) -> RunDir:
    """The run named ``run_id``, or the latest run; ``UnknownRunError`` when there is none."""
    name = definition.name
    if run_id is None:
        run_id = store.latest(name)
        if run_id is None:
            raise UnknownRunError(f"no run of workflow {name!r} in {store.root} yet")
    return store.run(name, run_id)


def _strict_message(failure: str) -> str:
    return f"{failure} (checkpoints.strict_plugins is on, so the run stops)"


def _metadata() -> Metadata:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = str(os.getuid())
    return Metadata(user=user, hostname=socket.gethostname(), pid=os.getpid())


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _jsonable(data: dict[str, Any], warnings: list[str], what: str) -> dict[str, Any]:
    """``data`` as JSON values; anything else is saved as its repr, with a warning."""
    clean: dict[str, Any] = {}
    for key, value in data.items():
        if _is_json(value):
            clean[str(key)] = value
        else:
            clean[str(key)] = repr(value)
            note = f"{what}[{key!r}] is not JSON-serialisable; saved as its repr"
            if note not in warnings:
                warnings.append(note)
    return clean


def _exit_code(error: BaseException, received: int | None) -> int:
    if isinstance(error, Terminated):
        return exit_code_for(error.signum)
    if isinstance(error, KeyboardInterrupt) or received is not None:
        return exit_code_for(received or signal.SIGINT)
    if isinstance(error, UnexpectedExit):
        return int(error.result.exited)
    if isinstance(error, Exit):
        return int(error.code)
    return 1


def _error_text(error: BaseException) -> str:
    if isinstance(error, UnexpectedExit):
        result = error.result
        text = f"command {result.command!r} exited with code {result.exited}"
        tail = [line for line in (result.stderr or "").splitlines() if line.strip()][-20:]
        return text + ("\n" + "\n".join(tail) if tail else "")
    if isinstance(error, (KeyboardInterrupt, Terminated)):
        return "interrupted by a signal"
    if isinstance(error, Exit):
        return f"Exit({error.code}): {error.message or ''}".rstrip(": ")
    return "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
