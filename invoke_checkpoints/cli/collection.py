"""The Invoke adapter: ``workflow(...)`` builds a Collection of tasks with their flags.

This runs when tasks.py is imported, for every Invoke command, so it imports nothing heavy:
the engine and the pydantic models load only when a workflow task actually runs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, Executor, Task

from ..run.definition import Step, WorkflowDefinition, build_steps
from .config import registered_defaults
from .report_task import report_task

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import FrameType

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


def invoking_collection(definition: WorkflowDefinition) -> Collection | None:
    """The root collection Invoke is running the workflow's task from.

    It is the ``collection`` of the :class:`invoke.Executor` (Invoke's, or a subclass set with
    ``tasks.executor_class``) whose ``execute`` called the task: the one collection whose
    config and dotted names ``invoke docs.build`` would use. When the task is called some other
    way (from Python), the ``ns`` / ``namespace`` Collection of the tasks.py that called
    ``workflow()`` stands in, as Invoke would load it.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, Executor) and isinstance(candidate.collection, Collection):
            return candidate.collection
        frame = frame.f_back
    for key in ("ns", "namespace"):
        found = definition.namespace.get(key)
        if isinstance(found, Collection):
            return found
    return None


def _bound(definition: WorkflowDefinition) -> WorkflowDefinition:
    """Name the steps after the running collection (``docs.build``) and check their args;
    a conflict or a bad argument leaves as one line, exit 2, before anything runs."""
    from invoke.exceptions import Exit

    from ..errors import USAGE_EXIT_CODE, CheckpointError
    from ..run.naming import bind_definition

    try:
        bind_definition(definition, invoking_collection(definition))
    except CheckpointError as exc:
        raise Exit(f"invoke-checkpoints: {exc}", USAGE_EXIT_CODE) from None
    return definition


def _build_collection(definition: WorkflowDefinition, help_text: str | None) -> Collection:
    coll = Collection(definition.name)
    for task in (
        *_run_tasks(definition, help_text),
        *_read_only_tasks(definition),
        *_maintenance_tasks(definition),
        *_remote_tasks(definition),
    ):
        coll.add_task(task)
    coll.configure({"checkpoints": registered_defaults()})
    return coll


def _run_tasks(definition: WorkflowDefinition, help_text: str | None) -> list[Task[Any]]:
    """The default task (run or resume) and ``resume``."""
    name = definition.name
    listing = ", ".join(definition.step_names)
    tasks: list[Task[Any]] = []

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
        from ..run.resolve import Request
        from .commands import run_command

        if smart and no_smart:
            from invoke.exceptions import Exit

            raise Exit("invoke-checkpoints: --smart and --no-smart contradict each other", 2)
        _check_run_key(run_key)
        request = Request(
            # `--resume=` gives "": refused like any malformed id, never a silent new run.
            resume=bool(resume) or isinstance(resume, str),
            run_id=resume if isinstance(resume, str) else None,
            resume_from=resume_from,
            smart=True if smart else (False if no_smart else None),
            parallel=True if parallel else None,
            max_workers=_workers(max_workers),
            run_key=run_key,
        )
        run_command(c, _bound(definition), request, dry_run=dry_run, explain=explain, quiet=quiet)

    run.__doc__ = help_text or f"Run workflow '{name}': {listing}. --resume continues a run."
    tasks.append(
        _task(
            run,
            "run",
            default=True,
            optional=["resume"],
            help={
                "resume": "continue the latest unfinished run, or run ID (--resume=ID)",
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
            },
        )
    )

    def resume(c: Context, run: str | None = None, quiet: bool = False) -> None:
        from ..run.resolve import Request
        from .commands import run_command

        run_command(c, _bound(definition), Request(resume=True, run_id=run), quiet=quiet)

    resume.__doc__ = f"Continue a run of workflow '{name}' (the latest by default)."
    tasks.append(
        _task(
            resume,
            "resume",
            help={"run": "run id to continue (default: latest)", "quiet": "less output"},
        )
    )
    return tasks


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

        status_command(c, _bound(definition), run, as_json=json)

    status.__doc__ = f"Show where a run of workflow '{name}' stands (the latest by default)."
    tasks.append(
        _task(
            status,
            "status",
            help={"run": "run id (default: latest)", "json": "print one JSON document"},
        )
    )

    def list_(c: Context, all: bool = False, json: bool = False) -> None:
        from .commands import list_command

        list_command(c, _bound(definition), show_all=all, as_json=json)

    list_.__doc__ = f"List the most recent runs of workflow '{name}' (20; --all for every run)."
    tasks.append(
        _task(
            list_,
            "list",
            help={"all": "every run, not only the latest 20", "json": "print one JSON document"},
        )
    )

    tasks.append(report_task(definition))

    def plugins(c: Context) -> None:
        from .commands import plugins_command

        plugins_command(c, _bound(definition))

    plugins.__doc__ = f"List the plugins active for workflow '{name}' and where each came from."
    tasks.append(_task(plugins, "plugins"))
    return tasks


def _maintenance_tasks(definition: WorkflowDefinition) -> list[Task[Any]]:
    """``repair`` and ``clean``."""
    name = definition.name
    tasks: list[Task[Any]] = []

    def repair(c: Context, run: str | None = None, dry_run: bool = False) -> None:
        from .maintenance import repair_command

        repair_command(c, _bound(definition), run, dry_run=dry_run)

    repair.__doc__ = f"Rebuild a missing or corrupt checkpoint.json of a run of workflow '{name}'."
    tasks.append(
        _task(
            repair,
            "repair",
            help={"run": "run id (default: latest)", "dry-run": "say what would be rebuilt"},
        )
    )

    def clean(
        c: Context,
        older_than: float = -1.0,
        keep: int = -1,
        all: bool = False,
        dry_run: bool = False,
    ) -> None:
        from .maintenance import clean_command

        clean_command(
            c,
            _bound(definition),
            older_than=None if older_than == -1.0 else older_than,
            keep=None if keep == -1 else keep,
            everything=all,
            dry_run=dry_run,
        )

    clean.__doc__ = (
        f"Remove old runs of workflow '{name}' (default: older than checkpoints.retention_days)."
    )
    tasks.append(
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


def _remote_tasks(definition: WorkflowDefinition) -> list[Task[Any]]:
    """``unlock``, ``export`` and ``import`` (docs/remote.md)."""
    name = definition.name
    tasks: list[Task[Any]] = []

    def unlock(c: Context, force: bool = False) -> None:
        from .remote import unlock_command

        unlock_command(c, definition, force=force)

    unlock.__doc__ = f"Free the lock of workflow '{name}' whose holder is known to be dead."
    tasks.append(
        _task(
            unlock,
            "unlock",
            help={"force": "remove a remote lock at once, without waiting for its lease to lapse"},
        )
    )

    def export(c: Context, run: str | None = None, output: str = "") -> None:
        from .remote import export_command

        export_command(c, definition, run, output)

    export.__doc__ = f"Write one run of workflow '{name}' to a .tar.gz (to import elsewhere)."
    tasks.append(
        _task(
            export,
            "export",
            help={"run": "run id (default: latest)", "output": "archive to write (run.tar.gz)"},
        )
    )

    def import_(c: Context, input: str = "") -> None:
        from .remote import import_command

        import_command(c, definition, input)

    import_.__doc__ = f"Add a run exported by `{name}.export` to this project's store."
    tasks.append(
        _task(
            import_,
            "import",
            help={"input": "archive written by export"},
        )
    )
    return tasks


def _task(body: Callable[..., None], name: str, **kwargs: Any) -> Task[Any]:
    return Task(body, name=name, auto_shortflags=False, **kwargs)
