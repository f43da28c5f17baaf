"""The pluggy manager of the host: registers an isolating adapter for each plugin, after
checking the plugin for mistakes that would otherwise fail later or silently."""

from __future__ import annotations

import inspect
import re
import time
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .direct import HOOKS, RESULT_TYPES, WRAPPED, PluginError, Plugins
from .isolation import Adapter, Hook, Isolation, hooks_of, trace

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

__all__ = ["HOOKS", "Manager", "PluginError"]


class Manager(pluggy.PluginManager, Plugins):
    """pluggy's manager, registering an isolating :class:`Adapter` in place of each plugin.

    ``register`` is the extension point pluggy documents for subclasses (pytest's manager
    overrides it too); ``load_setuptools_entrypoints`` goes through it as well.
    """

    def __init__(self, isolation: Isolation) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self._isolation = isolation
        specs = {name: self.parse_hookspec_opts(hookspecs, name) for name in HOOKS}
        self._firstresult = frozenset(
            n for n, opts in specs.items() if opts and opts["firstresult"]
        )
        Plugins.__init__(self)  # pluggy's __init__ does not chain to it

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin`` through an adapter; ``None`` if blocked or already registered.

        Raises :class:`PluginError` if pluggy refuses it or it has a hook wrapper.
        """
        name = name or self.get_canonical_name(plugin)
        self.requested.add(name)
        if plugin is None or self.is_blocked(name) or self.name_of(plugin) is not None:
            return None  # the same plugin named by several sources is registered once
        hooks = hooks_of(self, plugin, RESULT_TYPES, self._firstresult)
        problem = _mistake(plugin, hooks)
        if problem:
            raise PluginError(f"plugin {name!r} is invalid: {problem}")
        adapter = Adapter(name, hooks, self._isolation, builtin=name in self.builtins)
        try:
            super().register(adapter, name)
            self.check_pending()
        except (pluggy.PluginValidationError, ValueError) as exc:
            if self.is_registered(adapter):
                self.unregister(adapter)
            raise PluginError(f"plugin {name!r} is invalid: {_validation_text(exc)}") from exc
        for caller in self.get_hookcallers(adapter) or []:
            adapter.registered(caller.get_hookimpls())
        self.originals[name] = plugin
        return name

    def trace_calls(self) -> None:
        """``--debug``: one line per hook call, with its duration (pluggy's monitors)."""
        started: list[float] = []  # a stack: a plugin may call a hook from a hook

        def before(hook: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
            started.append(time.perf_counter())

        def after(
            outcome: pluggy.Result[Any],
            hook: str,
            impls: Sequence[pluggy.HookImpl],
            kwargs: Mapping[str, Any],
        ) -> None:
            took = (time.perf_counter() - started.pop()) * 1000
            if not impls:
                trace(f"{hook}: no implementations")
            else:
                count = f"{len(impls)} implementation{'s' if len(impls) > 1 else ''}"
                trace(f"{hook}: {count} ({took:.2f} ms)")

        self.add_hookcall_monitoring(before, after)

    def blocked(self) -> list[str]:
        """Names in ``checkpoints.disable_plugins``, whether or not such a plugin exists."""
        return [name for name, plugin in self.list_name_plugin() if plugin is None]

    def split(self, hook: str, *, debug: bool) -> tuple[Callable[..., Any], Any]:
        """How to call the hook's built-in implementations, and the hook's caller for every
        other plugin (``None`` when no other plugin implements it)."""
        adapters = [(name, self.get_plugin(name)) for name in self.originals]
        others = [adapter for name, adapter in adapters if name not in self.builtins]
        mine = [adapter for name, adapter in adapters if name in self.builtins]
        theirs = self.subset_hook_caller(hook, remove_plugins=mine)
        return (
            _direct(self.subset_hook_caller(hook, remove_plugins=others), debug),
            theirs if theirs.get_hookimpls() else None,
        )

    def caller(self, hook: str) -> Callable[..., Any]:
        """Calls every implementation of ``hook`` (pluggy's hook caller)."""
        return getattr(self.hook, hook)  # type: ignore[no-any-return]  # pluggy's HookCaller

    def wrappers(self) -> pluggy.HookCaller | None:
        """The caller of the ``checkpoints_run_step`` wrappers; ``None`` when there is none."""
        caller: pluggy.HookCaller = self.hook.checkpoints_run_step
        return caller if caller.get_hookimpls() else None


def _direct(caller: pluggy.HookCaller, traced: bool) -> Callable[..., Any]:
    """Call the implementations of a subset hook caller as pluggy calls them (in its order,
    each with the arguments it names), without pluggy's per-call work: the built-ins are told
    of every step, and that work costs more than their own. pluggy's path where it matters:
    with ``--debug`` tracing (its monitors time each call) or a wrapper among them."""
    impls = caller.get_hookimpls()
    if traced or any(impl.wrapper or impl.hookwrapper for impl in impls):
        return caller
    calls = [(impl.function, tuple(impl.argnames)) for impl in reversed(impls)]

    def call(**kwargs: Any) -> None:
        for function, names in calls:
            function(*[kwargs[name] for name in names])

    return call


def _is_wrapper(hook: Hook) -> bool:
    return bool(hook.opts.get("wrapper") or hook.opts.get("hookwrapper"))


def _mistake(plugin: object, hooks: list[Hook]) -> str | None:
    """What makes ``plugin`` unusable, found at registration rather than at the first call."""
    wrappers = sorted(h.attribute for h in hooks if _is_wrapper(h) and h.name != WRAPPED)
    if wrappers:
        return (
            f"hook wrappers are supported only for {WRAPPED} ({', '.join(wrappers)}); "
            "use a plain @hookimpl"
        )
    if any(h.name == WRAPPED and not _is_wrapper(h) for h in hooks):
        return f"{WRAPPED} takes only wrappers: @hookimpl(wrapper=True) and a function that yields"
    if inspect.isclass(plugin):
        unbound = [
            h.attribute
            for h in hooks
            if inspect.isfunction(inspect.getattr_static(plugin, h.attribute, None))
        ]
        if unbound:
            name = plugin.__qualname__
            return f"{name} is a class, not an instance; register an instance ({name}())"
    asynchronous = sorted(
        h.attribute
        for h in hooks
        if inspect.iscoroutinefunction(h.function) or inspect.isasyncgenfunction(h.function)
    )
    if asynchronous:
        return f"{', '.join(asynchronous)} is async def; hooks are called synchronously: use def"
    marked = {h.attribute for h in hooks}
    unmarked = sorted(
        name
        for name in dir(plugin)
        if name.startswith("checkpoints_")
        and name not in marked
        and inspect.isroutine(getattr(plugin, name, None))
    )
    if unmarked:
        return f"{unmarked[0]} is named like a hook but has no @hookimpl (decorate it)"
    return None


def _validation_text(exc: Exception) -> str:
    """pluggy's multi-line validation message as one line, without object reprs."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Plugin "):
        lines = lines[1:]  # "Plugin 'x' for hook 'y'": the caller names the plugin already
    text = re.sub(r" in plugin <.*>$", "", "; ".join(lines))
    if text.startswith("unknown hook"):
        text += f" (hooks: {', '.join(sorted(HOOKS))})"
    return text
