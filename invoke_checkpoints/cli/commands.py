"""What each workflow task does; errors a user can cause leave through ``Exit(message, 2)``."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from invoke.exceptions import Exit

from ..errors import USAGE_EXIT_CODE, CheckpointError, CorruptCheckpointError
from .config import Settings, env_flag

if TYPE_CHECKING:
    from collections.abc import Iterator

    from invoke import Context

    from ..plugins.host import PluginHost
    from ..run.definition import WorkflowDefinition
    from ..run.resolve import Request, RunOptions
    from ..store.backend import RunLock
    from ..store.runs import Store

__all__ = [
    "list_command",
    "plugins_command",
    "run_command",
    "settings_store",
    "status_command",
    "user_errors",
]


def _auto_dash(c: Context) -> bool:
    """Invoke's ``tasks.auto_dash_names``: ``my_flow`` is the task ``my-flow`` by default."""
    try:
        return bool(c.config.tasks.get("auto_dash_names", True))
    except AttributeError:
        return True


def _task_name(c: Context, definition: WorkflowDefinition) -> str:
    from ..store.status import command_name

    return command_name(definition.name, auto_dash=_auto_dash(c))


@contextlib.contextmanager
def _user_errors(definition: WorkflowDefinition, c: Context | None = None) -> Iterator[None]:
    try:
        yield
    except CorruptCheckpointError as exc:
        name = _task_name(c, definition) if c is not None else definition.name
        repair = f"`invoke {name}.repair" + (f" --run={exc.run_id}`" if exc.run_id else "`")
        raise Exit(
            f"invoke-checkpoints: {exc}; nothing was changed: rebuild it with {repair} "
            f"or start a new run with `invoke {name}`",
            USAGE_EXIT_CODE,
        ) from None
    except CheckpointError as exc:
        raise Exit(f"invoke-checkpoints: {exc}", USAGE_EXIT_CODE) from None
    except BrokenPipeError:
        # `invoke workflow.status | head`: the reader left; say nothing more, like cat does.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise Exit(code=1) from None


def _settings_store(
    c: Context, definition: WorkflowDefinition, *, readonly: bool = False
) -> tuple[Settings, Store]:
    """Settings and store only: the read-only commands need no plugin host. A ``readonly``
    store (``status``, ``list``) never writes, so a reader who may not write can use them."""
    from ..store.runs import Store

    settings = Settings.from_config(c.config, definition.origin)
    store = Store(
        settings.dir,
        durable=settings.fsync,
        shared=settings.shared,
        lease_seconds=settings.lease_seconds,
        readonly=readonly,
    )
    return settings, store


def _setup(
    c: Context, definition: WorkflowDefinition, *, quiet: bool = False
) -> tuple[Settings, Store, PluginHost]:
    from ..plugins.host import AUTOLOAD_ENV, DEBUG_ENV, PluginHost
    from ..plugins.reporter import ConsoleReporter
    from ..plugins.smart import SmartExecution
    from ..store.history import expected_durations

    settings, store = _settings_store(c, definition)

    def history(workflow: str, run_id: str) -> dict[str, float]:
        return expected_durations(store, workflow, exclude=run_id)

    builtins: list[tuple[str, object]] = [
        ("reporter", ConsoleReporter(quiet=quiet, history=history, auto_dash=_auto_dash(c))),
        ("smart", SmartExecution(store, settings.root, definition.name)),
    ]
    plugins = PluginHost(
        strict=settings.strict_plugins,
        plugins=settings.plugins,
        disable=settings.disable_plugins,
        extra=definition.plugins,
        builtins=builtins,
        debug=env_flag(DEBUG_ENV),
        autoload=not env_flag(AUTOLOAD_ENV),
        config=settings.plugin_config,
    )
    for name in plugins.unknown_blocked():
        print(
            f"invoke-checkpoints: warning: checkpoints.disable_plugins names no plugin {name!r}, "
            f"ignored (plugins: {', '.join(plugins.origins)})",
            file=sys.stderr,
        )
    return settings, store, plugins


def _defaults(settings: Settings) -> RunOptions:
    from ..run.resolve import RunOptions

    return RunOptions(
        parallel=settings.parallel,
        smart=settings.smart_execution,
        max_workers=settings.max_workers or None,
    )


def run_command(
    c: Context,
    definition: WorkflowDefinition,
    request: Request,
    *,
    dry_run: bool = False,
    explain: bool = False,
    quiet: bool = False,
) -> None:
    """``invoke <workflow>`` (new run, ``--resume[=ID]``, ``--resume-from``, ``--dry-run``,
    ``--explain``) and ``<workflow>.resume``: one path, one decision (``run.resolve``)."""
    from ..run.resolve import check_request, resolve

    if request.max_workers is not None and request.max_workers < 1:
        raise Exit(f"invoke-checkpoints: --max-workers must be >= 1, got {request.max_workers}", 2)
    with _user_errors(definition, c):
        settings, store, plugins = _setup(c, definition, quiet=quiet)
        if request.run_key is None and settings.run_key is not None:
            from ..store.structs import replace

            request = replace(request, run_key=settings.run_key)
        check_request(definition, store, request)
        _check_target(definition, store, request)
        if dry_run or explain:
            from ..run.plan import Plan

            decision = None
            if settings.enabled:
                decision = resolve(definition, store, request, _defaults(settings))
            options = (
                decision.options if decision else _plain_options(settings, definition, request)
            )
            plan = Plan(definition, decision, plugins, options)
            plan.show(dry_run=dry_run)
            if dry_run or plan.nothing_to_do:
                return
        if not settings.enabled or _invoke_dry(c):
            from ..run.engine import Engine

            decision = None
            if settings.enabled:  # `invoke --dry`: the run or resume it would be, unrecorded
                decision = resolve(definition, store, request, _defaults(settings))
            options = (
                decision.options if decision else _plain_options(settings, definition, request)
            )
            engine = Engine(c, definition, plugins, options, project=settings.root, quiet=quiet)
            engine.plain_run(decision, dry=_invoke_dry(c))
            return
        lock = store.lock(definition.name)
        lock.acquire()
        try:
            _run_locked(c, definition, settings, store, plugins, lock, request, quiet=quiet)
        finally:
            lock.release()


def _check_target(definition: WorkflowDefinition, store: Store, request: Request) -> None:
    """The run ``--resume=ID`` or ``--resume-from`` names must exist before anything (the
    store, its lock) is created; ``resolve`` decides again under the lock."""
    if request.run_id is not None:
        store.run(definition.name, request.run_id)
    elif request.resume_from is not None and request.run_key is None:
        store.find(definition.name, None)


def _invoke_dry(c: Context) -> bool:
    """Invoke's own ``--dry`` (config ``run.dry``): commands are echoed, not run."""
    run = c.config.get("run", {})
    return bool(run.get("dry", False))


def _plain_options(
    settings: Settings, definition: WorkflowDefinition, request: Request
) -> RunOptions:
    from ..run.resolve import merge_options

    return merge_options(_defaults(settings), definition, request, None)


def _run_locked(
    c: Context,
    definition: WorkflowDefinition,
    settings: Settings,
    store: Store,
    plugins: PluginHost,
    lock: RunLock,
    request: Request,
    *,
    quiet: bool = False,
) -> None:
    """Start or resume the decided run while holding the workflow's lock.

    The runs guard (``store/lock.py``) is held from ``lock.acquire()`` until the run is
    recorded in the lock's owner file: ``clean`` never removes the run being validated,
    created or resumed, and retention runs under it too."""
    from ..run.engine import Engine
    from ..run.resolve import resolve

    decision = resolve(definition, store, request, _defaults(settings))
    engine = Engine(
        c,
        definition,
        plugins,
        decision.options,
        project=settings.root,
        store=store,
        lock=lock,
        quiet=quiet,
    )
    run_dir = decision.run_dir
    if run_dir is None:
        _retention(settings, store, definition, keep_run=None)
        engine.new_run(decision.run_key)  # records its run as soon as it exists
        return
    store.sweep(definition.name)  # a new run sweeps as it is created
    if not decision.already_complete:
        _retention(settings, store, definition, keep_run=run_dir.run_id)
    lock.record(run_dir.run_id)
    if decision.already_complete:
        print(
            f"run {run_dir.run_id} already completed; nothing to resume "
            f"(start a new run with `invoke {_task_name(c, definition)}`)"
        )
        return
    engine.resume(decision)


def status_command(
    c: Context, definition: WorkflowDefinition, run_id: str | None, *, as_json: bool
) -> None:
    """``invoke <workflow>.status``: where a run stands."""
    from ..store.status import run_status
    from .render import render_status

    with _user_errors(definition, c):
        _, store = _settings_store(c, definition, readonly=True)
        if run_id is None:
            run_id = store.latest(definition.name)
        if run_id is None:
            doc: dict[str, Any] = {"workflow": definition.name, "run_id": None, "status": "none"}
            if as_json:
                print(json.dumps(doc, indent=2))
            else:
                print(f"no runs of workflow {definition.name!r} yet (store: {store.root})")
            return
        run_dir = store.find(definition.name, run_id)
        doc = run_status(store, definition.name, run_dir, auto_dash=_auto_dash(c))
        _add_metadata(doc, definition)
        print(json.dumps(doc, indent=2) if as_json else render_status(doc))


def _add_metadata(doc: dict[str, Any], definition: WorkflowDefinition) -> None:
    """Each step's ``tags``, ``meta`` and ``group``, from the workflow as defined now."""
    specs = {spec.name: spec for spec in definition.steps}
    for step in doc["steps"]:
        spec = specs.get(step["name"])
        step["tags"] = sorted(spec.tags) if spec is not None else []
        step["meta"] = dict(spec.meta) if spec is not None else {}
        step["group"] = spec.group if spec is not None else None


def plugins_command(c: Context, definition: WorkflowDefinition) -> None:
    """``invoke <workflow>.plugins``: active plugins and where each came from."""
    with _user_errors(definition, c):
        _, _, plugins = _setup(c, definition)
        rows = plugins.describe()
        # Every plugin may be disabled (built-ins included): no active one to measure.
        width = max((len(name) for name, _ in rows), default=0)
        for name, origin in rows:
            print(f"{name:<{width}}  {origin}")
        for name in plugins.blocked():
            print(f"{name:<{width}}  (disabled by checkpoints.disable_plugins)")
        sys.stdout.flush()


def _retention(
    settings: Settings, store: Store, definition: WorkflowDefinition, keep_run: str | None
) -> None:
    """``checkpoints.auto_clean``: apply the retention policy as a run starts (lock held)."""
    if not settings.auto_clean:
        return
    from ..store.maintenance import auto_clean

    removed = auto_clean(store, definition.name, settings.retention_days, keep_run)
    if removed:
        print(
            f"removed {len(removed)} run(s) older than {settings.retention_days:g} days "
            "(checkpoints.retention_days)"
        )


def list_command(
    c: Context, definition: WorkflowDefinition, *, show_all: bool, as_json: bool
) -> None:
    """``invoke <workflow>.list``: the most recent runs, newest first."""
    from ..plugins.formatting import use_color
    from ..store.maintenance import list_document, list_runs
    from .render import render_list

    with _user_errors(definition, c):
        _, store = _settings_store(c, definition, readonly=True)
        rows = list_runs(store, definition.name, limit=None if show_all else 20)
        if as_json:
            print(json.dumps(list_document(definition.name, store, rows), indent=2))
        elif not rows:
            print(f"no runs of workflow {definition.name!r} yet (store: {store.root})")
        else:
            print(render_list(rows, color=use_color(sys.stdout)))


#: For the commands of other modules (``maintenance.py``, ``remote.py``, ``report.py``).
user_errors = _user_errors
settings_store = _settings_store
