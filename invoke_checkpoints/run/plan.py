"""``--dry-run`` and ``--explain``: what a run or resume would do per step, and why.

Reads the store but writes nothing: no run directory, marker, state file or lock file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import UnknownRunError
from ..plugins.smart import SmartExecution
from ..store.recovery import check_compatible, load_run
from ..store.runs import marker_name
from .context import RunInfo, StepInfo

if TYPE_CHECKING:
    from ..cli.config import Settings
    from ..plugins.host import PluginHost
    from ..store.runs import Store
    from .definition import WorkflowDefinition
    from .engine import RunOptions

__all__ = ["Plan"]


class Plan:
    """The decision for every step of the run that an invocation would start or resume."""

    def __init__(
        self, definition: WorkflowDefinition, store: Store, plugins: PluginHost, settings: Settings
    ) -> None:
        self.definition = definition
        self.store = store
        self.plugins = plugins
        self.settings = settings
        self.done: set[int] = set()
        self.rerun_from: int | None = None
        self.run = RunInfo("", definition.name, None, definition.step_names)
        self.header = f"workflow {definition.name!r}: a new run"
        #: True when the run to resume is already complete: there is nothing to explain.
        self.nothing_to_do = False

    def load(self, resume: bool, run_id: str | None, rerun_from: int | None) -> dict[str, Any]:
        """Find the run a resume would continue; returns its saved options (``{}`` if new)."""
        self.rerun_from = rerun_from
        if not self.settings.enabled:
            self.header = (
                f"workflow {self.definition.name!r}: checkpoints disabled, steps run plainly"
            )
            return {}
        if not resume:
            return {}
        try:
            run_dir = load_run(self.store, self.definition, run_id)
        except UnknownRunError:
            if run_id is not None or rerun_from is not None:
                raise
            self.header += " (--resume found no run to continue)"
            return {}
        cp = run_dir.read_checkpoint()
        check_compatible(cp, self.definition, run_dir)
        self.done = run_dir.marker_steps()
        if rerun_from is not None:
            self.done -= set(range(rerun_from, len(self.definition.steps)))
        elif cp.status.value == "completed":
            self.nothing_to_do = True
        self.run = RunInfo(
            run_dir.run_id,
            self.definition.name,
            run_dir.path,
            self.definition.step_names,
            vars=dict(cp.vars),
            _dir=run_dir,
        )
        self.header = f"workflow {self.definition.name!r}: resume {run_dir.run_id}"
        return dict(cp.options)

    def decide(self, number: int, options: RunOptions) -> str:
        """One step's line: ``complete``, ``run`` or ``skip``, with the reason."""
        spec = self.definition.steps[number]
        if number in self.done:
            return f"complete (marker {marker_name(number)})"
        if self.rerun_from is not None and number >= self.rerun_from:
            return f"run (--resume-from={self.rerun_from})"
        info = StepInfo.of(spec, self.run)
        smart = self.plugins.get_plugin("smart")
        why = "smart execution is off" if not options.smart else "no skip rule applies"
        if isinstance(smart, SmartExecution) and options.smart:
            skip, why = smart.decide(info)
            if skip:
                return f"skip ({why})"
        reason = self.plugins.first("checkpoints_should_skip_step", run=self.run, step=info)
        if reason:
            return f"skip ({reason})"
        return f"run ({why})"

    def show(self, options: RunOptions, *, dry_run: bool) -> None:
        """Print the plan; ``dry_run`` says that nothing is written."""
        if self.nothing_to_do:
            print(f"{self.header}: already completed, --resume would run nothing")
            return
        suffix = " (dry run: nothing is written)" if dry_run else ""
        mode = ", parallel groups run concurrently" if options.parallel else ""
        print(f"{self.header}{mode}{suffix}")
        width = max(len(n) for n in self.definition.step_names)
        for spec in self.definition.steps:
            group = f" [group {spec.group}]" if spec.group is not None else ""
            line = f"  {spec.number:>3}  {spec.name:<{width}}  {self.decide(spec.number, options)}"
            print(line + group)
