"""The Invoke adapter: ``workflow(...)`` builds a Collection of tasks with their flags.

This runs when tasks.py is imported, for every Invoke command, so it imports nothing heavy:
the engine and the pydantic models load only when a workflow task actually runs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, Task

from ..run.definition import Step, WorkflowDefinition, build_steps
from .admin import maintenance_tasks, remote_tasks
from .binding import bound, make_task
from .config import registered_defaults
from .report_task import report_task

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["Step", "workflow"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


#: Options ``workflow(**options)`` accepts; each is saved with the run and restored on resume.
_OPTIONS = {"parallel": bool, "smart": bool, "max_workers": int}


def workflow(
    # Any: Invoke types a @task-decorated function as a plain Callable; steps are checked at
    # runtime (a Task, a Step, or a list/tuple of them for a parallel group).
    *steps: Any,
    name: str = "workflow",
    plugins: Iterable[object] = (),
    help: str | None = None,
    **options: Any,
) -> Collection:
    """Turn Invoke tasks into a checkpointed workflow; returns a Collection to add to ``ns``.

    ``ns.add_collection(workflow(lint, [unit, integration], docs))`` adds ``invoke workflow``
    (run or resume) and ``workflow.status``, ``.resume``, ``.list``, ``.clean``, ``.plugins``.
    Steps are numbered from 0 in the order given; a list or tuple is a parallel group; a step's
    pre/post tasks run inside that step. Options: ``parallel``, ``smart``, ``max_workers``.
    """
    for key, value in options.items():
        kind = _OPTIONS.get(key)
        if kind is None:
            known = ", ".join(sorted(_OPTIONS))
            raise TypeError(f"workflow() got an unknown option {key!r} (options: {known})")
        bad_int = kind is int and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        )
        if not isinstance(value, kind) or bad_int:
            raise TypeError(f"workflow() option {key}={value!r} must be a {kind.__name__}")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"workflow name {name!a} must start with a letter and use letters, digits, "
            "- or _ (at most 64)"
        )
    if not steps:
        raise ValueError(f"workflow {name!r} needs at least one step")
    specs, groups = build_steps(name, steps)
    namespace = sys._getframe(1).f_globals
    caller = namespace.get("__file__")
    definition = WorkflowDefinition(
        name=name,
        steps=specs,
        origin=Path(caller).resolve().parent if caller else Path.cwd(),
        options=dict(options),
        plugins=tuple(plugins),
        groups=groups,
    )
    definition.namespace = namespace
    return _build_collection(definition, help)


def _build_collection(definition: WorkflowDefinition, help_text: str | None) -> Collection:
    coll = Collection(definition.name)
    for task in (
        *_run_tasks(definition, help_text),
        *_read_only_tasks(definition),
        *maintenance_tasks(definition),
        *remote_tasks(definition),
    ):
        coll.add_task(task)
    coll.configure({"checkpoints": registered_defaults()})
    return coll


#: Help of the flags ``<workflow>`` and ``<workflow>.resume`` share.
_RUN_HELP = {
    "resume-from": "continue, re-running from step N or NAME on",
    "dry-run": "print the plan (run / complete / skip, and why); write nothing",
    "explain": "print why each step runs or is skipped, then run",
    "quiet": "print only failures and the summary",
    "smart": "skip steps whose inputs, args and code are unchanged (default)",
    "no-smart": "run every step, even when nothing changed",
    "parallel": "run the steps of each parallel group concurrently",
    "max-workers": "threads per parallel group (default: one per step)",
    "run-key": "a key for the run (e.g. the CI run id): --resume continues the run "
    "with this key, or starts it",
}


def _start(
    c: Context,
    definition: WorkflowDefinition,
    *,
    resume: bool,
    run_id: str | None,
    resume_from: str | None,
    dry_run: bool,
    explain: bool,
    quiet: bool,
    smart: bool,
    no_smart: bool,
    parallel: bool,
    max_workers: str,
    run_key: str | None,
) -> None:
    """What ``invoke <workflow> [flags]`` and ``invoke <workflow>.resume [flags]`` both do."""
    from ..run.resolve import Request
    from .commands import run_command

    if smart and no_smart:
        from invoke.exceptions import Exit

        raise Exit("invoke-checkpoints: --smart and --no-smart contradict each other", 2)
    _check_run_key(run_key)
    request = Request(
        resume=resume,
        run_id=run_id,
        resume_from=resume_from,
        smart=True if smart else (False if no_smart else None),
        parallel=True if parallel else None,
        max_workers=_workers(max_workers),
        run_key=run_key,
    )
    run_command(c, bound(definition), request, dry_run=dry_run, explain=explain, quiet=quiet)


def _run_tasks(definition: WorkflowDefinition, help_text: str | None) -> list[Task[Any]]:
    """The default task (run or resume) and ``resume``, which take the same flags."""
    name = definition.name
    listing = ", ".join(definition.step_names)

    def run(
        c: Context,
        resume: Any = None,
        resume_from: str | None = None,
        dry_run: bool = False,
        explain: bool = False,
        quiet: bool = False,
        smart: bool = False,
        no_smart: bool = False,
        parallel: bool = False,
        # A string, parsed here: Invoke's own int parsing raises a traceback for "abc".
        max_workers: str = "",
        run_key: str | None = None,
    ) -> None:
        _start(
            c,
            definition,
            # `--resume=` gives "": refused like any malformed id, never a silent new run.
            resume=bool(resume) or isinstance(resume, str),
            run_id=resume if isinstance(resume, str) else None,
            **_flags(locals()),
        )

    run.__doc__ = help_text or (
        f"Run workflow '{name}': {listing}. --resume continues a run.\n\n"
        "--resume continues the latest run of the workflow if it did not complete: its failed "
        "or interrupted step starts again from its beginning, completed steps never run again."
    )
    help_run = {
        "resume": "continue the latest run if it did not complete, or run ID (--resume=ID)",
        **_RUN_HELP,
    }

    def resume(
        c: Context,
        run: str | None = None,
        resume_from: str | None = None,
        dry_run: bool = False,
        explain: bool = False,
        quiet: bool = False,
        smart: bool = False,
        no_smart: bool = False,
        parallel: bool = False,
        max_workers: str = "",
        run_key: str | None = None,
    ) -> None:
        _start(c, definition, resume=True, run_id=run, **_flags(locals()))

    resume.__doc__ = (
        f"Continue a run of workflow '{name}' (the latest by default).\n\n"
        f"`invoke {name}.resume --run=ID [flags]` is `invoke {name} --resume=ID [flags]`."
    )
    help_resume = {"run": "run id to continue (default: the latest run)", **_RUN_HELP}
    return [
        make_task(run, "run", default=True, optional=["resume"], help=help_run),
        make_task(resume, "resume", help=help_resume),
    ]


#: The flags both run tasks pass on as they are.
_SHARED = ("resume_from", "dry_run", "explain", "quiet", "smart", "no_smart", "parallel")


def _flags(given: dict[str, Any]) -> dict[str, Any]:
    """The shared flags, from a run task body's ``locals()`` (both take the same names)."""
    return {key: given[key] for key in (*_SHARED, "max_workers", "run_key")}


def _check_run_key(run_key: str | None) -> None:
    """Refuse a malformed ``--run-key`` in one line, exit 2."""
    from .config import run_key_error

    why = run_key_error(run_key) if run_key is not None else None
    if why is not None:
        from invoke.exceptions import Exit

        raise Exit(f"invoke-checkpoints: --run-key: {why}", 2)


def _read_only_tasks(definition: WorkflowDefinition) -> list[Task[Any]]:
    """``status``, ``list``, ``report`` and ``plugins``: they never touch a run."""
    name = definition.name
    tasks: list[Task[Any]] = []

    def status(c: Context, run: str | None = None, json: bool = False) -> None:
        from .commands import status_command

        status_command(c, bound(definition), run, as_json=json)

    status.__doc__ = f"Show where a run of workflow '{name}' stands (the latest by default)."
    tasks.append(
        make_task(
            status,
            "status",
            help={"run": "run id (default: latest)", "json": "print one JSON document"},
        )
    )

    def list_(c: Context, all: bool = False, json: bool = False) -> None:
        from .commands import list_command

        list_command(c, bound(definition), show_all=all, as_json=json)

    list_.__doc__ = f"List the most recent runs of workflow '{name}' (20; --all for every run)."
    tasks.append(
        make_task(
            list_,
            "list",
            help={"all": "every run, not only the latest 20", "json": "print one JSON document"},
        )
    )

    tasks.append(report_task(definition))

    def plugins(c: Context) -> None:
        from .commands import plugins_command

        plugins_command(c, bound(definition))

    plugins.__doc__ = f"List the plugins active for workflow '{name}' and where each came from."
    tasks.append(make_task(plugins, "plugins"))
    return tasks


def _workers(value: str) -> int | None:
    """``--max-workers=N``: a whole number >= 1 (0 or nothing: the configured default)."""
    text = str(value).strip()
    if not text:
        return None
    if not text.isdigit() or not text.isascii():
        from invoke.exceptions import Exit

        raise Exit(
            f"invoke-checkpoints: --max-workers must be a whole number >= 1, got {value!r}", 2
        )
    return int(text) or None
