"""The plugin host: a pluggy manager whose every plugin is isolated, and the calls into it.

pluggy is imported, and its manager built, only for a run that needs it: one with a plugin
that is not built in, a built-in that :mod:`.direct` cannot serve exactly as pluggy would,
or ``--debug`` tracing. Until then a :class:`~.direct.Registry` holds the built-ins and calls
them in pluggy's order; the moment pluggy is needed, it gets every plugin asked for so far,
in the same order, and the registry is dropped.

Registration order (pluggy calls the most recently registered implementation first, so a later
source overrides an earlier one in ``checkpoints_should_skip_step``):

1. built-ins: ``environment``, then those the caller passes (``reporter``, ``smart``);
2. the ``invoke_checkpoints`` entry-point group (unless ``autoload`` is false);
3. ``checkpoints.plugins`` (dotted module names);
4. ``workflow(..., plugins=[...])``.

Any of them is skipped when its name is in ``checkpoints.disable_plugins``. pluggy registers an
:class:`~.isolation.Adapter` for each plugin; this module maps names back to the plugins.

Calling: a notification goes to the built-ins first, in the calling thread, then to the other
plugins. Those (and every decision hook) run in the main thread, one call at a time: a worker
thread of a parallel group hands its calls to the main thread (:meth:`PluginHost.serve`), so
no plugin is ever called concurrently and Ctrl-C / SIGTERM can abandon a slow hook.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any

from . import hookspecs
from .direct import NeedsPluggy, PluginError, Registry
from .discovery import may_declare
from .dispatch import MainThreadCalls
from .isolation import PREFIX, STEP_ERRORS, Answer, Isolation, describe

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from contextlib import AbstractContextManager

    from ..run.context import RunInfo, StepInfo
    from .manager import Manager

__all__ = ["AUTOLOAD_ENV", "DEBUG_ENV", "PluginError", "PluginHost"]

#: Set to 1 to skip the entry-point group (config and ``workflow(plugins=...)`` still load).
AUTOLOAD_ENV = "INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"
#: Set to 1 to trace every hook call to stderr.
DEBUG_ENV = "INVOKE_CHECKPOINTS_DEBUG"


class PluginHost:
    """One host per command (pluggy only when needed): plugins isolated, calls serialised."""

    def __init__(
        self,
        *,
        strict: bool = False,
        plugins: Iterable[str] = (),
        disable: Iterable[str] = (),
        extra: Iterable[object] = (),
        builtins: Iterable[tuple[str, object]] = (),
        debug: bool = False,
        autoload: bool = True,
        config: Mapping[str, dict[str, Any]] | None = None,
    ) -> None:
        """Register every plugin.

        ``plugins``: dotted module names (``checkpoints.plugins``); ``disable``: names never
        registered nor imported; ``extra``: modules, objects or dotted names from
        ``workflow(plugins=...)``; ``builtins``: more built-ins as ``(name, plugin)``,
        registered right after ``environment`` (the CLI passes ``reporter`` and ``smart``);
        ``strict``: the first hook error fails the run (:meth:`take_strict_failure`);
        ``debug``: trace every hook call to stderr; ``autoload``: load the
        ``invoke_checkpoints`` entry points; ``config``: ``checkpoints.plugin_config`` (what
        ``run.config(name)`` returns).
        """
        self.strict = strict
        #: ``checkpoints.plugin_config``: plugin name -> its own settings.
        self.config: dict[str, dict[str, Any]] = dict(config or {})
        self.debug = debug
        #: Every hook error, one line each, in the order they happened (append-only).
        self.errors: list[str] = []
        self._listeners: list[Callable[[str], None]] = []
        self._strict_failure: str | None = None
        #: Plugin name -> where it came from, in registration order (``workflow.plugins``).
        self.origins: dict[str, str] = {}
        #: Hooks never run concurrently (steps may run in threads); plugins need no locking.
        self._calls = MainThreadCalls()
        self._builtin_lock = threading.RLock()
        self._isolation = Isolation(self._fail, debug=debug)
        #: The built-ins, while pluggy is not needed; then pluggy's manager (:meth:`_manager`).
        self._pm: Registry | Manager = Registry(self._isolation)
        self._callers: dict[str, tuple[Callable[..., Any], Any]] = {}
        plugins, extra = tuple(plugins), tuple(extra)
        #: Names configured or given to workflow(), loaded or not (blocked ones are not).
        self._named = {*plugins, *(given for given in extra if isinstance(given, str))}
        for name in disable:
            self._pm.set_blocked(name)
        from . import environment

        self._pm.builtins.update(["environment", *(name for name, _ in builtins)])
        if debug:
            self._manager()  # pluggy's monitors time each call
        self._register(environment, "environment", "built-in")
        for name, plugin in builtins:
            self._register(plugin, name, "built-in")
        if autoload:
            self._load_entry_points()
        for dotted in plugins:
            if dotted in self._pm.builtins and self._pm.has_plugin(dotted) and _module(dotted):
                # A module of the user's named like a built-in (their reporter.py); naming the
                # built-in itself, with no such module, still just names what is registered.
                raise _taken(dotted, "config checkpoints.plugins", "built-in")
            if self._pm.has_plugin(dotted) or self._pm.is_blocked(dotted):
                continue
            module = _import(dotted, "config checkpoints.plugins")
            self._register(module, dotted, "checkpoints.plugins")
        for given in extra:
            if isinstance(given, str) and self._pm.is_blocked(given):
                continue  # a blocked plugin is not even imported
            plugin = _import(given, "workflow(plugins=...)") if isinstance(given, str) else given
            self._register(plugin, self._name_for(plugin), "workflow(plugins=...)")

    # -- registering -------------------------------------------------------------------------

    def _manager(self) -> Manager:
        """pluggy's manager, made on first need: it registers every plugin asked for so far
        again, in the same order, with the same names blocked."""
        registry = self._pm
        if not isinstance(registry, Registry):
            return registry
        from .manager import Manager

        self._pm = pm = Manager(self._isolation)
        for name in registry.blocked():
            pm.set_blocked(name)
        if self.debug:
            pm.trace_calls()
        pm.builtins.update(registry.builtins)
        self._callers.clear()
        for plugin, name in registry.asked:
            pm.register(plugin, name)
        return pm

    def _register(self, plugin: object, name: str, origin: str) -> None:
        if name in self.origins and self.get_plugin(name) is not plugin:
            raise _taken(name, origin, self.origins[name])  # pluggy's words: a dict's repr
        try:
            registered = self._pm.register(plugin, name)
        except NeedsPluggy:  # from the registry: this plugin is pluggy's to register
            registered = self._manager().register(plugin, name)
        if registered is not None:
            self.origins[name] = origin

    def _load_entry_points(self) -> None:
        if not may_declare(hookspecs.PROJECT):
            return  # nothing installed declares a plugin: skip importlib.metadata's scan
        pm = self._manager()
        try:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        except PluginError:
            raise  # loaded, then refused: the message names the plugin already
        except Exception as exc:
            failed, where = self._failed_entry_point()
            raise PluginError(
                f"plugin {failed!r} (entry point of {where}) cannot be loaded: "
                f"{describe(exc)}; block it with checkpoints.disable_plugins: [{failed}] "
                f"or set {AUTOLOAD_ENV}=1"
            ) from exc
        for plugin, dist in pm.list_plugin_distinfo():
            name = pm.name_of(plugin)
            if name is not None and name not in self.origins:
                self.origins[name] = f"{dist.project_name} {dist.version} (entry point)"

    def _failed_entry_point(self) -> tuple[str, str]:
        """The entry point whose ``load()`` raised: the first one pluggy had not reached.

        pluggy walks ``importlib.metadata.distributions()`` in order and stops at the failure.
        """
        from importlib.metadata import distributions

        for dist in distributions():
            for ep in dist.entry_points:
                if (
                    ep.group == hookspecs.PROJECT
                    and ep.name not in self._pm.requested
                    and not self._pm.is_blocked(ep.name)
                ):
                    return ep.name, f"{dist.name} {dist.version}"
        return "?", "an unknown distribution"

    def _name_for(self, plugin: object) -> str:
        """A stable name for a plugin given to ``workflow()``, usable in ``disable_plugins``."""
        if isinstance(plugin, ModuleType):
            return plugin.__name__
        qualname = getattr(plugin, "__qualname__", None)  # a class or function given as is
        if not isinstance(qualname, str):
            qualname = type(plugin).__qualname__
        base = f"{_module_of(plugin)}.{qualname}"
        name, n = base, 1
        while name in self.origins:
            n += 1
            name = f"{base}#{n}"
        return name

    # -- failures and tracing ----------------------------------------------------------------

    def report_errors_to(self, listener: Callable[[str], None]) -> None:
        """Also pass each hook error's one-line message to ``listener`` (the engine records it)."""
        self._listeners.append(listener)

    @property
    def strict_failure(self) -> str | None:
        """The first hook error since the last :meth:`take_strict_failure`, when strict."""
        return self._strict_failure

    def take_strict_failure(self) -> str | None:
        """Return :attr:`strict_failure` and forget it (the engine fails the run with it)."""
        failure, self._strict_failure = self._strict_failure, None
        return failure

    def _fail(self, message: str, strict: bool = True) -> None:
        print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)
        self.errors.append(message)
        for listener in self._listeners:
            listener(message)
        if strict and self.strict and self._strict_failure is None:
            self._strict_failure = message

    # -- calling -----------------------------------------------------------------------------

    def guard_hooks_with(self, region: Callable[[], AbstractContextManager[None]] | None) -> None:
        """Run each third-party implementation inside ``region()`` (the run's signal guard:
        Ctrl-C / SIGTERM abandon it after a grace period); ``None``: no more."""
        self._isolation.region = region

    def serving(self) -> AbstractContextManager[None]:
        """While the block runs, other threads' hook calls wait for :meth:`serve`."""
        return self._calls.serving()

    def serve(self, timeout: float) -> None:
        """In the main thread: run the hook calls other threads hand over, for ``timeout`` s."""
        self._calls.serve(timeout)

    def _split(self, hook: str) -> tuple[Callable[..., None], Any]:
        """How to call the hook's built-in implementations, and the hook's caller for every
        other plugin (``None`` when no other plugin implements it)."""
        if hook not in self._callers:
            self._callers[hook] = self._pm.split(hook, debug=self.debug)
        return self._callers[hook]

    def _call(self, hook: str, kwargs: dict[str, Any]) -> Any:
        caller = self._pm.caller(hook)
        return self._calls(lambda: caller(**kwargs))

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of a notification hook; one that raises is reported.

        The built-ins first, in this thread (the console lines never wait for another
        plugin), then the others, in the main thread.
        """
        builtin, others = self._split(hook)
        with self._builtin_lock:
            builtin(**kwargs)
        if others is not None:
            self._calls(lambda: others(**kwargs))

    def run_step(self, execute: Callable[[], Any], run: RunInfo, step: StepInfo) -> Any:
        """``execute()`` wrapped by every ``checkpoints_run_step`` wrapper, in this thread.

        Wrappers receive ``execute`` too, to run the step's task again (a retry).
        """
        errors: list[BaseException] = []

        def recorded() -> Any:
            try:
                return execute()
            except BaseException as exc:
                errors.append(exc)
                raise

        token = STEP_ERRORS.set(errors)
        try:
            caller = self._pm.wrappers()
            if caller is None:
                # No wrapper: what call_extra would do, without building a hook
                # implementation (an inspect of ``recorded``) for every step.
                return recorded()
            return caller.call_extra([recorded], {"run": run, "step": step, "execute": recorded})
        finally:
            STEP_ERRORS.reset(token)

    def first(self, hook: str, **kwargs: Any) -> Any:
        """Call a firstresult hook: the first result that is not ``None`` or empty wins."""
        answer: Answer | None = self._call(hook, kwargs)
        return answer.value if answer is not None else None

    def each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation, returning ``(plugin name, result)`` pairs."""
        answers: list[Answer] = self._call(hook, kwargs)
        return [(answer.plugin, answer.value) for answer in answers]

    # -- describing --------------------------------------------------------------------------

    def get_plugin(self, name: str) -> object | None:
        """The plugin registered under ``name`` (pluggy itself holds its adapter)."""
        return self._pm.originals.get(name)

    def describe(self) -> list[tuple[str, str]]:
        """``(plugin name, where it came from)`` for every active plugin, in registration order.

        Built-ins say ``built-in``; entry-point plugins name their distribution and version;
        the others name how they were requested and, when installed, their distribution.
        """
        from importlib.metadata import packages_distributions

        owners = packages_distributions()  # top-level module -> distributions, read once
        rows = []
        for name, source in self.origins.items():
            plugin = self.get_plugin(name)
            if source == "built-in":
                origin = f"built-in (invoke-checkpoints {_own_version()})"
            elif source.endswith("(entry point)"):
                origin = source
            else:
                dist = _distribution_of(plugin, owners)
                origin = f"{f'{dist}, ' if dist else ''}{_module_of(plugin)} ({source})"
            rows.append((name, origin))
        return rows

    def blocked(self) -> list[str]:
        """Names in ``checkpoints.disable_plugins``, whether or not such a plugin exists."""
        return self._pm.blocked()

    def unknown_blocked(self) -> list[str]:
        """Names in ``checkpoints.disable_plugins`` that match no plugin of any source, built-in,
        installed (loaded or not), configured or given to ``workflow()``: typos."""
        candidates = [
            name
            for name in self.blocked()
            if name not in self._pm.requested and name not in self._named
        ]
        if not candidates:
            return []
        from importlib.metadata import entry_points

        installed = {ep.name for ep in entry_points(group=hookspecs.PROJECT)}
        return [name for name in candidates if name not in installed]


def _taken(name: str, source: str, holder: str) -> PluginError:
    """A plugin named as an already registered, different plugin is (a user's reporter.py)."""
    held = "the built-in plugin" if holder == "built-in" else f"the plugin from {holder}"
    return PluginError(f"{source}: plugin name {name!r} is taken by {held}; rename the module")


def _module(name: str) -> bool:
    """Whether an importable module has this (dot-free, built-in) name; nothing is imported."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _import(dotted: str, source: str) -> ModuleType:
    try:
        return importlib.import_module(dotted)
    except Exception as exc:
        raise PluginError(f"{source}: cannot import {dotted!r} ({describe(exc)})") from exc


def _module_of(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return str(getattr(plugin, "__module__", None) or type(plugin).__module__)


def _own_version() -> str:
    from importlib.metadata import version

    return version("invoke-checkpoints")


def _distribution_of(plugin: object, owners: Mapping[str, list[str]]) -> str | None:
    """``name version`` of the installed distribution that provides the plugin's module."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in owners.get(_module_of(plugin).partition(".")[0], []):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            continue
    return None
