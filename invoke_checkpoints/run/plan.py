"""``--dry-run`` and ``--explain``: what a run or resume would do per step, and why.

Built from the same :class:`~.resolve.Decision` as the run itself. Reads the store but writes
nothing: no run directory, marker, state file or lock file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..plugins.smart import NO_RELEVANT_CHANGES, SmartExecution
from ..store.runs import marker_name
from ..store.structs import replace
from .context import RunInfo, StepInfo
from .outcomes import one_line

if TYPE_CHECKING:
    from ..plugins.host import PluginHost
    from .context import RunOptions
    from .definition import WorkflowDefinition
    from .resolve import Decision

__all__ = ["Plan"]


class Plan:
    """The decision for every step of the run that an invocation would start or resume."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        decision: Decision | None,
        plugins: PluginHost,
        options: RunOptions,
    ) -> None:
        """``decision`` is ``None`` when checkpoints are disabled (the steps run plainly)."""
        self.definition = definition
        self.decision = decision
        self.plugins = plugins
        self.options = options
        name = definition.name
        run_dir = decision.run_dir if decision is not None else None
        # Plugins asked for the plan see a dry run (``run.options.dry_run``).
        options = replace(options, dry_run=True)
        config = plugins.config
        if decision is None:
            self.header = f"workflow {name!r}: checkpoints disabled, steps run plainly"
            self.run = RunInfo(
                "",
                name,
                None,
                definition.step_names,
                options=options,
                enabled=False,
                _plugin_config=config,
            )
        elif run_dir is None:
            note = f" ({decision.note})" if decision.note else ""
            self.header = f"workflow {name!r}: a new run{note}"
            self.run = RunInfo(
                "", name, None, definition.step_names, options=options, _plugin_config=config
            )
        else:
            assert decision.checkpoint is not None
            self.header = f"workflow {name!r}: resume {run_dir.run_id}"
            self.run = RunInfo(
                run_dir.run_id,
                name,
                run_dir.path,
                definition.step_names,
                vars=dict(decision.checkpoint.vars),
                options=options,
                started_at=decision.checkpoint.started_at,
                _dir=run_dir,
                _plugin_config=config,
            )

    @property
    def nothing_to_do(self) -> bool:
        """The run to resume is already complete: there is nothing to explain."""
        return self.decision is not None and self.decision.already_complete

    def decide(self, number: int) -> str:
        """One step's line: ``complete``, ``run`` or ``skip``, with the reason."""
        spec = self.definition.steps[number]
        decision = self.decision
        if decision is not None and number in decision.done:
            return f"complete (marker {marker_name(number)})"
        rerun_from = decision.rerun_from if decision is not None else None
        changed_at = decision.changed_at if decision is not None else None
        if changed_at is not None and number >= changed_at and rerun_from == changed_at:
            return "run (the step list changed)"
        if rerun_from is not None and number >= rerun_from:
            return f"run (--resume-from={rerun_from})"
        info = StepInfo.of(spec, self.run)
        # The documented hook order decides, exactly as in the run; the smart plugin only
        # explains its own answer.
        reason = self.plugins.first("checkpoints_should_skip_step", run=self.run, step=info)
        smart = self.plugins.get_plugin("smart")
        smart_on = self.options.smart
        why = "smart execution is off" if not smart_on else "no skip rule applies"
        if isinstance(smart, SmartExecution) and smart_on:
            skip, why = smart.decide(info)
            if skip and reason == NO_RELEVANT_CHANGES:
                return f"skip ({why})"
        if reason:
            return f"skip ({one_line(str(reason))})"
        return f"run ({why})"

    def show(self, *, dry_run: bool) -> None:
        """Print the plan; ``dry_run`` says that nothing is written."""
        if self.nothing_to_do:
            print(f"{self.header}: already completed, --resume would run nothing")
            return
        suffix = " (dry run: nothing is written)" if dry_run else ""
        mode = ", parallel groups run concurrently" if self.options.parallel else ""
        print(f"{self.header}{mode}{suffix}")
        if self.decision is not None and self.decision.changed_at is not None:
            print(f"  {self.decision.changes(self.definition)}")
        width = max(len(n) for n in self.definition.step_names)
        for spec in self.definition.steps:
            group = f" [group {spec.group}]" if spec.group is not None else ""
            group += f" [tags: {', '.join(sorted(spec.tags))}]" if spec.tags else ""
            line = f"  {spec.number:>3}  {spec.name:<{width}}  "
            print(line + self.decide(spec.number) + group)
