"""The plugin host: builds the pluggy manager and calls hooks so one plugin cannot hurt a run.

Registration order (pluggy calls the most recently registered implementation first, so a later
source overrides an earlier one in ``checkpoints_should_skip_step``):

1. built-ins: ``environment``, ``reporter``, then those the caller passes (``smart``);
2. the ``invoke_checkpoints`` entry-point group (off with
   ``INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD=1``);
3. ``checkpoints.plugins`` (dotted module names);
4. ``workflow(..., plugins=[...])``.

Any of them is skipped when its name is in ``checkpoints.disable_plugins``.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
import traceback
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

import pluggy

from ..cli.config import Settings, env_flag
from ..errors import CheckpointError
from ..run.context import RunInfo, StepInfo
from . import hookspecs

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["AUTOLOAD_ENV", "DEBUG_ENV", "PluginError", "PluginHost"]

#: Set to 1 to skip the entry-point group (config and ``workflow(plugins=...)`` still load).
AUTOLOAD_ENV = "INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"
#: Set to 1 to trace every hook call to stderr.
DEBUG_ENV = "INVOKE_CHECKPOINTS_DEBUG"
#: What a hook must return when it returns anything at all (``None`` is always allowed).
_RESULT_TYPES: dict[str, type] = {
    "checkpoints_should_skip_step": str,
    "checkpoints_environment": dict,
}
_PREFIX = "invoke-checkpoints"
_HOOKS = frozenset(name for name in vars(hookspecs) if name.startswith("checkpoints_"))


class PluginError(CheckpointError):
    """A plugin could not be imported, or it does not fit the hook specifications."""


class PluginHost:
    """One pluggy ``PluginManager`` per command, with error isolation and debug tracing."""

    def __init__(
        self,
        settings: Settings,
        extra: Iterable[object] = (),
        *,
        quiet: bool = False,
        out: TextIO | None = None,
        builtins: Iterable[tuple[str, object]] = (),
    ) -> None:
        """Register every plugin; ``builtins`` adds more built-ins as ``(name, plugin)``."""
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.strict = settings.strict_plugins
        self.debug = env_flag(DEBUG_ENV)
        #: Called with a one-line message whenever a hook raises (the engine records it).
        self.on_error: Callable[[str], None] = lambda message: None
        #: The first hook error while strict; the engine fails the run with it.
        self.strict_failure: str | None = None
        #: Plugin name -> where it came from, in registration order (``workflow.plugins``).
        self.origins: dict[str, str] = {}
        self._impl_cache: dict[str, list[pluggy.HookImpl]] = {}
        #: Hooks never run concurrently (steps may run in threads); plugins need no locking.
        self._lock = threading.RLock()
        for name in settings.disable_plugins:
            self.pm.set_blocked(name)

        from ..plugins import environment
        from .reporter import ConsoleReporter

        self._register(environment, "environment", "built-in")
        self._register(ConsoleReporter(quiet=quiet, out=out), "reporter", "built-in")
        for name, plugin in builtins:
            self._register(plugin, name, "built-in")
        if not env_flag(AUTOLOAD_ENV):
            self._load_entry_points()
        for dotted in settings.plugins:
            if self.pm.has_plugin(dotted) or self.pm.is_blocked(dotted):
                continue
            module = _import(dotted, "config checkpoints.plugins")
            self._register(module, dotted, "checkpoints.plugins")
        for given in extra:
            if isinstance(given, str) and self.pm.is_blocked(given):
                continue  # a blocked plugin is not even imported
            plugin = _import(given, "workflow(plugins=...)") if isinstance(given, str) else given
            self._register(plugin, self._name_for(plugin), "workflow(plugins=...)")

    # -- registering -------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        # entry_points() lists each distribution once (the first found on sys.path wins).
        for ep in entry_points(group=hookspecs.PROJECT):
            if self.pm.has_plugin(ep.name) or self.pm.is_blocked(ep.name):
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else ep.value
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {ep.name!r} (entry point of {dist}) cannot be loaded: "
                    f"{_describe(exc)}; block it with checkpoints.disable_plugins: [{ep.name}] "
                    f"or set {AUTOLOAD_ENV}=1"
                ) from exc
            self._register(plugin, ep.name, f"{dist} (entry point)")

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

    def _register(self, plugin: object, name: str, origin: str) -> None:
        if self.pm.is_registered(plugin):
            return
        try:
            registered = self.pm.register(plugin, name=name)
            if registered is None:  # blocked by checkpoints.disable_plugins
                return
            wrappers = [
                impl.function.__name__
                for caller in self.pm.get_hookcallers(plugin) or []
                for impl in caller.get_hookimpls()
                if impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
            ]
            self.pm.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            raise PluginError(f"plugin {name!r} is invalid: {_validation_text(exc)}") from exc
        if wrappers:
            self.pm.unregister(plugin)
            raise PluginError(
                f"plugin {name!r} is invalid: hook wrappers are not supported "
                f"({', '.join(sorted(wrappers))}); use a plain @hookimpl"
            )
        self.origins[name] = origin
        self._impl_cache.clear()

    # -- calling -----------------------------------------------------------------------------

    def _impls(self, hook: str) -> list[pluggy.HookImpl]:
        # pluggy calls the last registered implementation first (tryfirst/trylast respected).
        # Cached per hook (several calls per step); registering a plugin clears the cache.
        impls = self._impl_cache.get(hook)
        if impls is None:
            impls = list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))
            self._impl_cache[hook] = impls
        return impls

    def _trace(self, text: str) -> None:
        print(f"{_PREFIX} debug: {text}", file=sys.stderr, flush=True)

    def _fail(self, message: str) -> None:
        print(f"{_PREFIX}: {message}", file=sys.stderr, flush=True)
        self.on_error(message)
        if self.strict and self.strict_failure is None:
            self.strict_failure = message

    def _call(self, impl: pluggy.HookImpl, hook: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """Call one implementation; ``(False, None)`` if it raised or returned the wrong type."""
        args = {name: kwargs[name] for name in impl.argnames}
        if self.debug:
            shown = ", ".join(f"{k}={_brief(v)}" for k, v in args.items())
            self._trace(f"{hook}({shown}) -> {impl.plugin_name}")
        try:
            result = impl.function(**args)
        except (Exception, SystemExit) as exc:
            if self.debug:
                sys.stderr.write("".join(traceback.format_exception(exc)))
            self._fail(f"plugin {impl.plugin_name!r} failed in {hook}: {_describe(exc)}")
            return False, None
        if self.debug and result is not None:
            self._trace(f"{hook} <- {impl.plugin_name} returned {_brief(result)}")
        expected = _RESULT_TYPES.get(hook)
        if result is not None and expected is not None and not isinstance(result, expected):
            self._fail(
                f"plugin {impl.plugin_name!r} failed in {hook}: returned "
                f"{type(result).__name__}, expected {expected.__name__} or None"
            )
            return False, None
        return True, result

    def _calls(self, hook: str) -> list[pluggy.HookImpl]:
        impls = self._impls(hook)
        if self.debug and not impls:
            self._trace(f"{hook}: no implementations")
        return impls

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of a notification hook; one that raises is reported."""
        with self._lock:
            for impl in self._calls(hook):
                self._call(impl, hook, kwargs)

    def first(self, hook: str, **kwargs: Any) -> Any:
        """Call a firstresult hook: the first result that is not ``None`` or empty wins."""
        with self._lock:
            for impl in self._calls(hook):
                ok, result = self._call(impl, hook, kwargs)
                if ok and result:
                    return result
        return None

    def each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation, returning ``(plugin name, result)`` pairs."""
        results = []
        with self._lock:
            for impl in self._calls(hook):
                ok, result = self._call(impl, hook, kwargs)
                if ok and result is not None:
                    results.append((impl.plugin_name, result))
        return results

    # -- describing --------------------------------------------------------------------------

    def describe(self) -> list[tuple[str, str]]:
        """``(plugin name, where it came from)`` for every active plugin, in registration order.

        Built-ins say ``built-in``; entry-point plugins name their distribution and version;
        the others name how they were requested and, when installed, their distribution.
        """
        from importlib.metadata import packages_distributions

        owners = packages_distributions()  # top-level module -> distributions, read once
        rows = []
        for name, source in self.origins.items():
            plugin = self.pm.get_plugin(name)
            if plugin is None:
                continue
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
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is None]


def _import(dotted: str, source: str) -> ModuleType:
    try:
        return importlib.import_module(dotted)
    except Exception as exc:
        raise PluginError(f"{source}: cannot import {dotted!r} ({_describe(exc)})") from exc


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


def _validation_text(exc: Exception) -> str:
    """pluggy's multi-line validation message as one line, without object reprs."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Plugin "):
        lines = lines[1:]  # "Plugin 'x' for hook 'y'": the caller names the plugin already
    text = re.sub(r" in plugin <.*>$", "", "; ".join(lines))
    if text.startswith("unknown hook"):
        text += f" (hooks: {', '.join(sorted(_HOOKS))})"
    return text


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _brief(value: Any) -> str:
    if isinstance(value, StepInfo):
        return f"<step {value.number} {value.name}>"
    if isinstance(value, RunInfo):
        return f"<run {value.workflow_id or value.name} {value.status}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
