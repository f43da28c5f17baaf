"""Running and resuming a workflow: the step loop, with a checkpoint around every step.

What is written, and when, is the :class:`~.record.Recorder`'s business; how one step runs is
the :class:`~.steps.StepExecutor`'s; parallel groups (``group.py``) drive the same executor from
worker threads. The engine only decides the order.
"""

from __future__ import annotations

import contextlib
import signal
from typing import TYPE_CHECKING, Any

from invoke.exceptions import Exit
from invoke.runners import Local

from ..store.records import Checkpoint, StepState, metadata
from ..store.vocabulary import FORMAT_VERSION, RunStatus, now_precise
from .context import RunInfo, entered_step
from .naming import expect_signatures
from .outcomes import jsonable, redact, strict_message
from .output import held_output
from .record import Recorder, refuse_live_children
from .signals import CheckpointRunner, Terminated
from .steps import StepExecutor

if TYPE_CHECKING:
    from pathlib import Path

    from invoke import Context

    from ..plugins.host import PluginHost
    from ..store.backend import RunLock
    from ..store.runs import Store
    from .definition import StepSpec, WorkflowDefinition
    from .resolve import Decision, RunOptions

__all__ = ["Engine"]


class Engine:
    """Executes one invocation of a workflow: a new run, a resume, or a plain run."""

    def __init__(
        self,
        c: Context,
        definition: WorkflowDefinition,
        plugins: PluginHost,
        options: RunOptions,
        *,
        project: Path,
        store: Store | None = None,
        lock: RunLock | None = None,
        quiet: bool = False,
    ) -> None:
        self.c = c
        self.definition = definition
        self.plugins = plugins
        self.options = options
        self.project = project
        self.store = store
        self.lock = lock
        #: ``--quiet``: a successful step's own output is not shown.
        self.quiet = quiet
        self.dry = False

    def new_run(self, run_key: str | None = None) -> None:
        """Create a run directory and run every step (``run_key``: see ``--run-key``)."""
        assert self.store is not None
        now, epoch = now_precise()
        cp: list[Checkpoint] = []

        def first(run_id: str) -> bytes:
            # The run directory appears with this checkpoint.json in it, never without.
            cp.append(
                Checkpoint(
                    workflow_id=run_id,
                    workflow=self.definition.name,
                    project_path=str(self.project),
                    started_at=now,
                    last_checkpoint=now,
                    started_at_epoch=epoch,
                    total_steps=len(self.definition.steps),
                    steps=list(self.definition.step_names),
                    metadata=metadata(),
                    run_key=run_key,
                )
            )
            return cp[0].to_json()

        run_dir = self.store.create_run(self.definition.name, now, first)
        if self.lock is not None:
            self.lock.record(run_dir.run_id)
        self._execute(Recorder(self.definition, run_dir, cp[0], set()))

    def resume(self, decision: Decision) -> None:
        """Continue the decided run at its first step without a marker (or at ``rerun_from``)."""
        run_dir, cp = decision.run_dir, decision.checkpoint
        assert run_dir is not None and cp is not None
        # The state files validated when the run was chosen, of the steps that may run again
        # (their attempts carry over): none is read twice. A step of a killed invocation whose
        # child still runs must not start a second time: checked before anything is changed.
        earlier = {
            n: StepState.from_doc(doc)
            for n, doc in decision.states.items()
            if n not in decision.done
        }
        markers = run_dir.marker_steps()
        refuse_live_children(
            run_dir.run_id, [earlier[n] for n in sorted(earlier) if n not in markers]
        )
        if decision.changed_at is not None:
            print(f"run {run_dir.run_id}: {decision.changes(self.definition)}")
            # The steps from the change on are new: their old files go before checkpoint.json
            # names the new list (every intermediate state is a consistent run of the old one).
            for number in sorted(markers | run_dir.state_steps()):
                if number >= decision.changed_at:
                    if number in markers:
                        run_dir.remove_marker(number)
                    run_dir.remove_state(number)
                    earlier.pop(number, None)
            cp.steps = list(self.definition.step_names)
            cp.total_steps = len(self.definition.steps)
        # Every marker and state file was validated when the run was chosen (resolve() reads
        # checkpoint.json with check_files): a corrupt one has already stopped the resume.
        run_dir.sweep_temp_files()
        if decision.rerun_from is not None:
            for number in sorted(run_dir.marker_steps() - decision.done):
                run_dir.remove_marker(number)
        cp.metadata = metadata()
        cp.finished_at = None
        # Written from now on in this release's format (a minor version only adds fields).
        cp.version = FORMAT_VERSION
        self._execute(Recorder(self.definition, run_dir, cp, set(decision.done), earlier=earlier))

    def plain_run(self, decision: Decision | None = None, *, dry: bool = False) -> None:
        """Run the steps in order and write nothing: ``checkpoints.enabled: false``, or
        Invoke's ``--dry`` (``dry``), which runs what ``decision`` would run with commands
        echoed, not executed: no run directory, marker, state file or fingerprint."""
        self.dry = dry
        done = set(decision.done) if decision is not None else set()
        self._execute(Recorder(self.definition, None, None, done))

    # -- the loop ----------------------------------------------------------------------------

    def _executor(self, recorder: Recorder) -> StepExecutor:
        rd, cp = recorder.run_dir, recorder.cp
        run = RunInfo(
            workflow_id=rd.run_id if rd else "",
            name=self.definition.name,
            path=rd.path if rd else None,
            steps=self.definition.step_names,
            vars=dict(cp.vars) if cp else {},
            options=self.options,
            enabled=rd is not None,
            dry=self.dry,
            _dir=rd,
            _plugin_config=self.plugins.config,
        )
        if cp is not None:
            run.started_at = cp.started_at
        # Steps run on a copy of the config, with a runner whose children a signal can stop;
        # a user's own runner class is left alone.
        config = self.c.config.clone()
        if config.runners.local is Local:
            config.runners.local = CheckpointRunner
        remainder = getattr(self.c, "remainder", None)
        self.plugins.report_errors_to(recorder.warn)
        return StepExecutor(config, remainder, self.plugins, recorder, run, quiet=self.quiet)

    def _execute(self, recorder: Recorder) -> None:
        steps = self._executor(recorder)
        held = recorder.run_dir.held() if recorder.run_dir is not None else contextlib.nullcontext()
        with held, steps.guard:
            self.plugins.guard_hooks_with(steps.guard.hook)
            try:
                self._loop(steps, recorder)
            finally:
                recorder.close()
                self.plugins.guard_hooks_with(None)
        # A signal during the final write (the guard recorded it until here): the run did
        # complete, every marker is written, but the exit code must not say 0.
        steps.signalled_after_finish()

    def _loop(self, steps: StepExecutor, recorder: Recorder) -> None:
        if recorder.cp is not None:
            recorder.prepare(self.options, self._environment(steps), steps.run)
        self.plugins.notify("checkpoints_workflow_start", run=steps.run)
        steps.strict_check()
        expect_signatures([s for s in self.definition.steps if s.number not in recorder.done])
        batches = self.definition.batches()
        last_step = len(self.definition.steps) - 1
        for batch in batches:
            group = self.definition.steps[batch[0]].group
            if group is not None and self.options.parallel:
                from .group import run_group

                specs = [self.definition.steps[n] for n in batch]
                with steps.start.restored():
                    run_group(steps, group, specs, self.options.max_workers)
                steps.strict_check(last=batch[-1] == last_step)
            else:
                for number in batch:
                    self._sequential(steps, self.definition.steps[number], number == last_step)
                if group is not None:
                    recorder.set_group(steps.run, group, "completed")
        steps.finish(RunStatus.COMPLETED)
        failure = self.plugins.take_strict_failure()
        if failure is not None:
            # A hook of the last step or workflow_finish raised: the run is complete (every
            # step has its marker), the exit code says the plugin failed.
            raise Exit(strict_message(failure), 1)

    def _sequential(self, steps: StepExecutor, spec: StepSpec, last: bool) -> None:
        info = steps.pending(spec, last=last)
        if info is None:
            return
        state = steps.begin(spec, info)
        spent: list[float] = []
        try:
            with (
                entered_step(info),
                steps.guard.step(),
                steps.start.restored(),
                held_output(steps.quiet),
            ):
                result = steps.execute(spec, info, spent)
        except (KeyboardInterrupt, Terminated) as exc:
            steps.ended(state, info, spent, exc)
            steps.stop(info, exc.signum if isinstance(exc, Terminated) else signal.SIGINT)
        except BaseException as exc:
            steps.ended(state, info, spent, exc)
            if steps.guard.received is not None:
                steps.stop(info, steps.guard.received)
            steps.fail(spec.number)
            raise
        steps.ended(state, info, spent, None, result)
        steps.strict_check(last=last)

    def _environment(self, steps: StepExecutor) -> dict[str, Any]:
        env: dict[str, Any] = {}
        for name, result in self.plugins.each("checkpoints_environment", run=steps.run):
            if name == "environment":
                env.update(result)
            else:
                env[name] = result
        # Redacted by key first: a value saved as its repr (not JSON) must not carry a secret.
        return dict(redact(jsonable(redact(env), steps.recorder.warnings, "environment")))
