"""The Invoke adapter: ``workflow(...)`` builds a Collection of tasks with their flags.

This runs when tasks.py is imported, for every Invoke command, so it imports nothing heavy:
the engine, pydantic models and filelock load only when a workflow task actually runs.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, Task

from .config import DEFAULTS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["StepSpec", "WorkflowDefinition", "workflow"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class StepSpec:
    """One step: a task, its number and name, and keyword arguments for it."""

    number: int
    name: str
    task: Task[Any]
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkflowDefinition:
    """Everything ``workflow(...)`` was given, as the commands need it."""

    name: str
    steps: tuple[StepSpec, ...]
    #: Directory of the module that called ``workflow()``; the store's fallback location.
    origin: Path
    options: dict[str, Any] = field(default_factory=dict)
    plugins: tuple[object, ...] = ()

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)


def workflow(
    *steps: Task[Any],
    name: str = "workflow",
    plugins: Iterable[object] = (),
    help: str | None = None,
    **options: Any,
) -> Collection:
    """Turn Invoke tasks into a checkpointed workflow; returns a Collection to add to ``ns``.

    ``ns.add_collection(workflow(lint, test, docs))`` adds ``invoke workflow`` (run or
    resume), ``workflow.status``, ``workflow.resume`` and ``workflow.plugins``. Steps are
    numbered from 0 in the order given; a step's pre/post tasks run inside that step.
    """
    if options:
        raise TypeError(f"workflow() got unknown option(s): {', '.join(sorted(options))}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"workflow name {name!r} must start with a letter and use letters, digits, - or _"
        )
    if not steps:
        raise ValueError(f"workflow {name!r} needs at least one step")
    specs = []
    for number, step in enumerate(steps):
        if not isinstance(step, Task):
            raise TypeError(
                f"workflow {name!r} step {number} must be an invoke Task (decorate it with "
                f"@task), got {step!r}"
            )
        specs.append(StepSpec(number, step.name, step))
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.name in seen:
            raise ValueError(
                f"workflow {name!r} has two steps named {spec.name!r} "
                f"(steps {seen[spec.name]} and {spec.number}); step names must be unique"
            )
        seen[spec.name] = spec.number
    caller = sys._getframe(1).f_globals.get("__file__")
    definition = WorkflowDefinition(
        name=name,
        steps=tuple(specs),
        origin=Path(caller).resolve().parent if caller else Path.cwd(),
        plugins=tuple(plugins),
    )
    return _build_collection(definition, help)


def _build_collection(definition: WorkflowDefinition, help_text: str | None) -> Collection:
    name = definition.name
    listing = ", ".join(definition.step_names)
    coll = Collection(name)

    def run(
        c: Context,
        resume: Any = None,
        resume_from: str | None = None,
        dry_run: bool = False,
        quiet: bool = False,
    ) -> None:
        from .commands import run_command

        run_command(c, definition, resume, resume_from, dry_run=dry_run, quiet=quiet)

    run.__doc__ = help_text or f"Run workflow '{name}': {listing}. --resume continues a run."
    coll.add_task(
        _task(
            run,
            "run",
            default=True,
            optional=["resume"],
            help={
                "resume": "continue the latest unfinished run, or run ID (--resume=ID)",
                "resume-from": "continue, re-running from step N or NAME on",
                "dry-run": "print the plan (run / complete / skip, and why); write nothing",
                "quiet": "print only failures and the summary",
            },
        )
    )

    def resume(c: Context, run: str | None = None, quiet: bool = False) -> None:
        from .commands import run_command

        run_command(c, definition, run or True, None, dry_run=False, quiet=quiet)

    resume.__doc__ = f"Continue a run of workflow '{name}' (the latest by default)."
    coll.add_task(
        _task(
            resume,
            "resume",
            help={"run": "run id to continue (default: latest)", "quiet": "less output"},
        )
    )

    def status(c: Context, run: str | None = None, json: bool = False) -> None:
        from .commands import status_command

        status_command(c, definition, run, as_json=json)

    status.__doc__ = f"Show where a run of workflow '{name}' stands (the latest by default)."
    coll.add_task(
        _task(
            status,
            "status",
            help={"run": "run id (default: latest)", "json": "print one JSON document"},
        )
    )

    def plugins(c: Context) -> None:
        from .commands import plugins_command

        plugins_command(c, definition)

    plugins.__doc__ = f"List the plugins active for workflow '{name}' and where each came from."
    coll.add_task(_task(plugins, "plugins"))

    def list_(c: Context, all: bool = False, json: bool = False) -> None:
        from .commands import list_command

        list_command(c, definition, show_all=all, as_json=json)

    list_.__doc__ = f"List the most recent runs of workflow '{name}' (20; --all for every run)."
    coll.add_task(
        _task(
            list_,
            "list",
            help={"all": "every run, not only the latest 20", "json": "print one JSON document"},
        )
    )

    def clean(
        c: Context,
        older_than: float = -1.0,
        keep: int = -1,
        all: bool = False,
        dry_run: bool = False,
    ) -> None:
        from .commands import clean_command

        clean_command(
            c,
            definition,
            older_than=None if older_than == -1.0 else older_than,
            keep=None if keep == -1 else keep,
            everything=all,
            dry_run=dry_run,
        )

    clean.__doc__ = (
        f"Remove old runs of workflow '{name}' (default: older than checkpoints.retention_days)."
    )
    coll.add_task(
        _task(
            clean,
            "clean",
            help={
                "older-than": "remove runs whose last activity is older than DAYS",
                "keep": "always keep the newest N runs",
                "all": "remove every run (except one running now)",
                "dry-run": "list what would be removed and the space it frees; remove nothing",
            },
        )
    )
    coll.configure(
        {"checkpoints": {k: list(v) if isinstance(v, list) else v for k, v in DEFAULTS.items()}}
    )
    return coll


def _task(body: Callable[..., None], name: str, **kwargs: Any) -> Task[Any]:
    return Task(body, name=name, auto_shortflags=False, **kwargs)
