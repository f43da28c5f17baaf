"""What pluggy calls in place of a plugin: an adapter whose hooks contain the plugin's errors.

pluggy's hook callers do the ordering (tryfirst/trylast, last registered first), firstresult and
monitoring, but one implementation raising stops the whole call. So each plugin is registered as
an :class:`Adapter` holding one wrapper per hook implementation. A wrapper looks like the
implementation to pluggy: ``functools.wraps`` sets ``__wrapped__``, through which pluggy reads
the argument names, and it carries a copy of the hookimpl options (tryfirst, trylast, specname).
Called, it calls the implementation and turns an exception or a result of the wrong type into
one reported line and ``None``, so the remaining implementations still run.
"""

from __future__ import annotations

import functools
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any, NamedTuple

from ..run.context import RunInfo, StepInfo
from .hookspecs import PROJECT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from collections.abc import Set as AbstractSet

    import pluggy

__all__ = ["PREFIX", "Adapter", "Answer", "Hook", "Isolation", "describe", "hooks_of", "trace"]

#: How every line this package writes to stderr starts.
PREFIX = "invoke-checkpoints"


class Answer(NamedTuple):
    """A hook's non-``None`` result and the plugin that returned it."""

    plugin: str
    value: Any


class Isolation:
    """What every wrapper shares: where failures go, and whether calls are traced."""

    def __init__(self, report: Callable[[str], None], *, debug: bool) -> None:
        #: Called with the one-line message of each failure.
        self.report = report
        self.debug = debug


class Hook(NamedTuple):
    """One hook implementation of a plugin, as pluggy would register it."""

    #: The attribute pluggy found it under (the hook's name unless ``specname`` is set).
    attribute: str
    #: The hook it implements.
    name: str
    function: Callable[..., Any]
    opts: pluggy.HookimplOpts
    #: What it must return when not ``None`` (``None``: anything).
    expected: type | None
    #: A firstresult hook, where a falsy result means "no answer" (``""`` does not skip).
    firstresult: bool


class _Isolated:
    """Calls one implementation; its wrapper (a plain function, as pluggy needs) calls this."""

    __slots__ = ("argnames", "hook", "isolation", "plugin")

    def __init__(self, hook: Hook, plugin: str, isolation: Isolation) -> None:
        self.hook = hook
        self.plugin = plugin
        self.isolation = isolation
        #: The names pluggy passes positionally, known once registered (for the trace only).
        self.argnames: tuple[str, ...] = ()

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Answer | None:
        hook, debug = self.hook.name, self.isolation.debug
        if debug:
            # Not strict: a trace line must never be what fails a call.
            shown = [*zip(self.argnames, args, strict=False), *kwargs.items()]
            trace(f"{hook}({', '.join(f'{k}={_brief(v)}' for k, v in shown)}) -> {self.plugin}")
        started = time.perf_counter()
        try:
            result = self.hook.function(*args, **kwargs)
        except (Exception, SystemExit) as exc:
            if debug:
                trace(f"{hook} <- {self.plugin} raised {type(exc).__name__} {_took(started)}")
                sys.stderr.write("".join(traceback.format_exception(exc)))
            self.isolation.report(f"plugin {self.plugin!r} failed in {hook}: {describe(exc)}")
            return None
        if debug:
            returned = f" returned {_brief(result)}" if result is not None else ""
            trace(f"{hook} <- {self.plugin}{returned} {_took(started)}")
        expected = self.hook.expected
        if result is not None and expected is not None and not isinstance(result, expected):
            self.isolation.report(
                f"plugin {self.plugin!r} failed in {hook}: returned "
                f"{type(result).__name__}, expected {expected.__name__} or None"
            )
            return None
        if result is None or (self.hook.firstresult and not result):
            return None  # pluggy's firstresult stops at the first result that is not None
        return Answer(self.plugin, result)


class Adapter:
    """Registered with pluggy for one plugin: an attribute per hook, each an isolating wrapper.

    Only the wrappers are plain functions among its attributes, so pluggy finds nothing else.
    """

    def __init__(self, name: str, hooks: Iterable[Hook], isolation: Isolation) -> None:
        self._name = name
        self._isolated: dict[Callable[..., Any], _Isolated] = {}
        for hook in hooks:
            isolated = _Isolated(hook, name, isolation)
            wrapper = _wrap(hook.function, isolated)
            # A copy: pluggy normalises the options in place when it registers the wrapper.
            setattr(wrapper, f"{PROJECT}_impl", dict(hook.opts))
            self._isolated[wrapper] = isolated
            vars(self)[hook.attribute] = wrapper

    def registered(self, impls: Iterable[pluggy.HookImpl]) -> None:
        """Learn from pluggy's ``HookImpl`` which arguments each wrapper is called with."""
        for impl in impls:
            if impl.plugin is self:
                self._isolated[impl.function].argnames = tuple(impl.argnames)

    def __repr__(self) -> str:
        # pluggy's messages end with "in plugin <repr>"; the host strips that part.
        return f"<isolated plugin {self._name!r}>"


def _wrap(function: Callable[..., Any], isolated: _Isolated) -> Callable[..., Any]:
    @functools.wraps(function)
    def isolating(*args: Any, **kwargs: Any) -> Answer | None:
        return isolated(args, kwargs)

    return isolating


def hooks_of(
    pm: pluggy.PluginManager,
    plugin: object,
    expected: Mapping[str, type],
    firstresult: AbstractSet[str],
) -> list[Hook]:
    """The hook implementations pluggy would register for ``plugin``, in ``dir()`` order."""
    hooks = []
    for attribute in dir(plugin):
        opts = pm.parse_hookimpl_opts(plugin, attribute)
        if opts is None:
            continue
        # pluggy binds exactly as getattr does for the attributes it accepts (functions,
        # staticmethods, classmethods, bound methods; descriptors are refused above).
        function = getattr(plugin, attribute)
        name = opts.get("specname") or attribute
        hooks.append(Hook(attribute, name, function, opts, expected.get(name), name in firstresult))
    return hooks


def trace(text: str) -> None:
    """One debug line on stderr."""
    print(f"{PREFIX} debug: {text}", file=sys.stderr, flush=True)


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _took(started: float) -> str:
    return f"({(time.perf_counter() - started) * 1000:.2f} ms)"


def _brief(value: Any) -> str:
    if isinstance(value, StepInfo):
        return f"<step {value.number} {value.name}>"
    if isinstance(value, RunInfo):
        return f"<run {value.workflow_id or value.name} {value.status}>"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
