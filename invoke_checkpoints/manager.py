"""The plugin host: builds the pluggy manager and calls hooks so one plugin cannot hurt a run."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, TextIO

import pluggy

from . import hookspecs
from .config import Settings, env_flag
from .context import RunInfo, StepInfo
from .errors import CheckpointError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["BUILTIN_NAMES", "PluginError", "PluginHost"]

#: Built-in plugins, in registration order; each can be blocked by name like any other.
BUILTIN_NAMES = ("environment", "reporter")


class PluginError(CheckpointError):
    """A plugin could not be loaded, or raised while ``checkpoints.strict_plugins`` is on."""


class PluginHost:
    """One pluggy ``PluginManager`` per command, with error isolation and debug tracing."""

    def __init__(
        self,
        settings: Settings,
        extra: Iterable[object] = (),
        *,
        quiet: bool = False,
        out: TextIO | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.strict = settings.strict_plugins
        self.debug = env_flag("INVOKE_CHECKPOINTS_DEBUG")
        #: Called with a one-line message whenever a hook raises (the engine records it).
        self.on_error: Callable[[str], None] = lambda message: None
        #: The first hook error while strict; the engine fails the run with it.
        self.strict_failure: str | None = None
        for name in settings.disable_plugins:
            self.pm.set_blocked(name)

        from .plugins import environment
        from .plugins.reporter import ConsoleReporter

        self.pm.register(environment, name="environment")
        self.pm.register(ConsoleReporter(quiet=quiet, out=out), name="reporter")
        if not env_flag("INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"):
            try:
                self.pm.load_setuptools_entrypoints(hookspecs.PROJECT)
            except Exception as exc:
                raise PluginError(f"loading entry-point plugins failed: {_describe(exc)}") from exc
        for dotted in settings.plugins:
            if self.pm.has_plugin(dotted) or self.pm.is_blocked(dotted):
                continue
            try:
                module = importlib.import_module(dotted)
            except Exception as exc:
                raise PluginError(
                    f"config checkpoints.plugins: cannot import {dotted!r} ({_describe(exc)})"
                ) from exc
            self._register(module, dotted)
        for plugin in extra:
            self._register(
                importlib.import_module(plugin) if isinstance(plugin, str) else plugin, None
            )

    def _register(self, plugin: object, name: str | None) -> None:
        if self.pm.is_registered(plugin):
            return
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"plugin {name or plugin!r} is invalid: {exc}") from exc

    # -- calling -----------------------------------------------------------------------------

    def _impls(self, hook: str) -> list[pluggy.HookImpl]:
        # pluggy calls the last registered implementation first (tryfirst/trylast respected).
        return list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))

    def _call(self, impl: pluggy.HookImpl, hook: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        args = {name: kwargs[name] for name in impl.argnames}
        if self.debug:
            shown = ", ".join(f"{k}={_brief(v)}" for k, v in kwargs.items())
            print(
                f"invoke-checkpoints debug: {hook}({shown}) -> {impl.plugin_name}", file=sys.stderr
            )
        try:
            return True, impl.function(**args)
        except Exception as exc:
            message = f"plugin {impl.plugin_name!r} failed in {hook}: {_describe(exc)}"
            print(f"invoke-checkpoints: {message}", file=sys.stderr, flush=True)
            self.on_error(message)
            if self.strict and self.strict_failure is None:
                self.strict_failure = message
            return False, None

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Call every implementation of a notification hook; one that raises is reported."""
        for impl in self._impls(hook):
            self._call(impl, hook, kwargs)

    def first(self, hook: str, **kwargs: Any) -> Any:
        """Call a firstresult hook: the first result that is not ``None`` or empty wins."""
        for impl in self._impls(hook):
            ok, result = self._call(impl, hook, kwargs)
            if ok and result:
                return result
        return None

    def each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation, returning ``(plugin name, result)`` pairs."""
        results = []
        for impl in self._impls(hook):
            ok, result = self._call(impl, hook, kwargs)
            if ok and result is not None:
                results.append((impl.plugin_name, result))
        return results

    def describe(self) -> list[tuple[str, str]]:
        """``(plugin name, where it came from)`` for every active plugin."""
        dists = {id(plugin): dist for plugin, dist in self.pm.list_plugin_distinfo()}
        rows = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            dist = dists.get(id(plugin))
            if dist is not None:
                origin = f"{dist.project_name} {dist.version} (entry point)"
            elif name in BUILTIN_NAMES:
                origin = "built-in"
            else:
                origin = getattr(plugin, "__name__", type(plugin).__module__)
            rows.append((name, origin))
        return rows

    def blocked(self) -> list[str]:
        return [name for name, plugin in self.pm.list_name_plugin() if plugin is None]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _brief(value: Any) -> str:
    if isinstance(value, StepInfo):
        return f"<step {value.number} {value.name}>"
    if isinstance(value, RunInfo):
        return f"<run {value.workflow_id or value.name}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
