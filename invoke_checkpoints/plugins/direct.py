"""The plugins of a run that has no third-party plugin, registered and called without pluggy.

Most runs have only the built-ins (``environment``, ``reporter``, ``smart``). Importing pluggy
and building its manager costs a run about 4-7 ms before step 0, for plugins whose every call
already bypasses pluggy (``host._direct``). :class:`Registry` registers them as the manager
would (the same :class:`~.isolation.Adapter` per plugin, around the same ``@hookimpl``-marked
functions, found in the same ``dir()`` order) and orders each hook's implementations as
pluggy's ``HookCaller._add_hookimpl`` does (tryfirst, trylast, else the last registered first).

It serves only what it can serve exactly as pluggy would: plain functions of a module, plain
methods of an instance, no wrapper, every hook specified, every argument one the spec names.
Anything else raises :class:`NeedsPluggy` before it is registered; so do a third-party
plugin and ``--debug`` tracing (``host.py``): the host then builds pluggy's manager and
registers everything asked for so far again, in the same order, and pluggy decides as always.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from ..errors import CheckpointError
from . import hookspecs
from .isolation import Adapter, Hook

if TYPE_CHECKING:
    from collections.abc import Callable

    from pluggy import HookimplOpts

    from .isolation import Answer, Isolation

__all__ = [
    "FIRSTRESULT",
    "HOOKS",
    "RESULT_TYPES",
    "WRAPPED",
    "NeedsPluggy",
    "PluginError",
    "Plugins",
    "Registry",
]

#: What a hook must return when it returns anything at all (``None`` is always allowed).
RESULT_TYPES: dict[str, type] = {
    "checkpoints_should_skip_step": str,
    "checkpoints_environment": dict,
}
HOOKS = frozenset(name for name in vars(hookspecs) if name.startswith("checkpoints_"))
#: The one hook that takes wrappers (around a step's execution), and only wrappers.
WRAPPED = "checkpoints_run_step"
_IMPL = f"{hookspecs.PROJECT}_impl"
#: Hooks whose call stops at the first answer.
FIRSTRESULT = frozenset(
    name for name in HOOKS if getattr(hookspecs, name).invoke_checkpoints_spec["firstresult"]
)
#: inspect.CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR, without inspect.
_ASYNC_FLAGS = 0x80 | 0x100 | 0x200


class PluginError(CheckpointError):
    """A plugin could not be imported, or it does not fit the hook specifications."""


class NeedsPluggy(Exception):
    """A plugin this registry cannot serve exactly as pluggy would: let pluggy register it."""


def _positional(function: types.FunctionType, *, bound: bool) -> tuple[str, ...]:
    """The arguments pluggy passes (its ``varnames``): positional ones without a default."""
    code = function.__code__
    names = code.co_varnames[: code.co_argcount]
    if function.__defaults__:
        names = names[: -len(function.__defaults__)]
    return names[1:] if bound else names


_SPEC_ARGS = {name: _positional(getattr(hookspecs, name), bound=False) for name in HOOKS}


class _Impl(NamedTuple):
    """One hook implementation, as pluggy's ``HookImpl`` holds what the call needs."""

    function: Callable[..., Answer | None]
    argnames: tuple[str, ...]
    tryfirst: bool
    trylast: bool


def _static(plugin: object, attribute: str) -> tuple[object, bool]:
    """The attribute as stored (no descriptor run), and whether ``getattr`` binds it."""
    if not isinstance(plugin, types.ModuleType):
        own = getattr(plugin, "__dict__", {})
        if attribute in own:
            return own[attribute], False
        for klass in type(plugin).__mro__:
            if attribute in vars(klass):
                value = vars(klass)[attribute]
                if isinstance(value, types.MemberDescriptorType):  # a __slots__ slot
                    try:
                        return value.__get__(plugin, type(plugin)), False
                    except AttributeError:
                        return None, False
                return value, True
        return None, False
    return vars(plugin).get(attribute), False


def _hook(
    plugin: object, attribute: str, function: types.FunctionType, bound: bool
) -> tuple[Hook, tuple[str, ...]]:
    """``function`` as a :class:`Hook` and the arguments pluggy would pass it, if pluggy
    would register it just so."""
    opts = getattr(function, _IMPL)
    if not isinstance(opts, dict) or opts.get("wrapper") or opts.get("hookwrapper"):
        raise NeedsPluggy(attribute)
    name = opts.get("specname") or attribute
    if name not in HOOKS or function.__code__.co_flags & _ASYNC_FLAGS:
        raise NeedsPluggy(attribute)
    if hasattr(function, "__wrapped__") or (not bound and "." in function.__qualname__):
        raise NeedsPluggy(attribute)  # how pluggy reads their arguments varies by version
    if bound and not function.__code__.co_argcount:
        raise NeedsPluggy(attribute)
    argnames = _positional(function, bound=bound)
    if not set(argnames) <= set(_SPEC_ARGS[name]):
        raise NeedsPluggy(attribute)  # pluggy refuses it, in its words
    called = function.__get__(plugin, type(plugin)) if bound else function
    marked = cast("HookimplOpts", opts)  # what pluggy's marker sets (markers.py)
    hook = Hook(attribute, name, called, marked, RESULT_TYPES.get(name), name in FIRSTRESULT)
    return hook, argnames


def hooks_of_builtin(plugin: object) -> list[tuple[Hook, tuple[str, ...]]]:
    """What the manager would register for ``plugin``, in ``dir()`` order, each with the
    arguments pluggy would pass it.

    Raises :class:`NeedsPluggy` unless it is a module or an instance of a plain class whose
    hooks are all plain functions, and nothing else looks like a hook or a mistake.
    """
    kind = type(plugin)
    if not isinstance(plugin, types.ModuleType) and (
        type(kind) is not type
        or kind.__getattribute__ is not object.__getattribute__
        or hasattr(kind, "__getattr__")
    ):
        raise NeedsPluggy(repr(plugin))  # a class, a metaclass or dynamic attributes
    hooks = []
    for attribute in dir(plugin):
        value, bound = _static(plugin, attribute)
        if isinstance(value, types.FunctionType) and hasattr(value, _IMPL):
            hooks.append(_hook(plugin, attribute, value, bound))
        elif attribute.startswith("checkpoints_") or _marked(value):
            raise NeedsPluggy(attribute)  # unmarked, or bound some other way
    return hooks


def _marked(value: object) -> bool:
    """Whether the value or the function it wraps carries a hook mark."""
    try:
        return (
            getattr(value, _IMPL, None) is not None
            or getattr(getattr(value, "__func__", None), _IMPL, None) is not None
        )
    except Exception:  # an odd object whose attribute lookup fails: pluggy's to judge
        return True


class Plugins:
    """What the host asks of either registry (this one, or pluggy's manager in manager.py)
    about the plugins themselves, not their adapters."""

    def __init__(self) -> None:
        #: Plugin name -> the plugin itself (not its adapter), in registration order.
        self.originals: dict[str, object] = {}
        #: Every name ``register`` was asked for, registered or not.
        self.requested: set[str] = set()
        #: Names of the built-in plugins (called first, in the calling thread).
        self.builtins: set[str] = set()

    def name_of(self, plugin: object) -> str | None:
        """The name ``plugin`` itself (not its adapter) is registered under."""
        return next((n for n, p in self.originals.items() if p is plugin), None)


class Registry(Plugins):
    """The built-in plugins of a host that has not needed pluggy (yet)."""

    def __init__(self, isolation: Isolation) -> None:
        super().__init__()
        self._isolation = isolation
        #: Every ``register`` call, in order (replayed into pluggy's manager).
        self.asked: list[tuple[object, str]] = []
        self._blocked: dict[str, None] = {}
        self._impls: dict[str, list[_Impl]] = {}

    def set_blocked(self, name: str) -> None:
        self._blocked[name] = None

    def is_blocked(self, name: str) -> bool:
        return name in self._blocked

    def blocked(self) -> list[str]:
        """The blocked names, in the order pluggy would list them."""
        return list(self._blocked)

    def has_plugin(self, name: str) -> bool:
        return name in self.originals

    def register(self, plugin: object, name: str) -> str | None:
        """As ``Manager.register``; raises :class:`NeedsPluggy` for a plugin pluggy must see."""
        if name not in self.builtins:
            raise NeedsPluggy(name)
        if not (plugin is None or self.is_blocked(name) or self.name_of(plugin) is not None):
            if name in self.originals:
                raise NeedsPluggy(name)  # pluggy refuses a name registered twice
            found = hooks_of_builtin(plugin)
            adapter = Adapter(name, [hook for hook, _ in found], self._isolation, builtin=True)
            for hook, argnames in found:
                tryfirst, trylast = bool(hook.opts.get("tryfirst")), bool(hook.opts.get("trylast"))
                wrapper = getattr(adapter, hook.attribute)
                self._add(hook.name, _Impl(wrapper, argnames, tryfirst, trylast))
            self.originals[name] = plugin
            registered: str | None = name
        else:
            registered = None
        self.requested.add(name)
        self.asked.append((plugin, name))
        return registered

    def _add(self, hook: str, impl: _Impl) -> None:
        """pluggy's ``HookCaller._add_hookimpl`` for a hook without wrappers."""
        impls = self._impls.setdefault(hook, [])
        if impl.trylast:
            impls.insert(0, impl)
        elif impl.tryfirst:
            impls.append(impl)
        else:
            i = len(impls) - 1
            while i >= 0 and impls[i].tryfirst:
                i -= 1
            impls.insert(i + 1, impl)

    def split(self, hook: str, *, debug: bool) -> tuple[Callable[..., Any], None]:
        """As ``Manager.split``: every plugin here is built in."""
        return self.caller(hook), None

    def wrappers(self) -> None:
        """As ``Manager.wrappers``: none here (a built-in with one needs pluggy)."""
        return

    def caller(self, hook: str) -> Callable[..., Any]:
        """Call ``hook``'s implementations as pluggy's hook caller would: each with the
        arguments it names, last registered first; a list of the answers, or for a
        firstresult hook the first answer (or ``None``)."""
        calls = [(impl.function, impl.argnames) for impl in reversed(self._impls.get(hook, []))]
        first = hook in FIRSTRESULT

        def call(**kwargs: Any) -> Any:
            answers = []
            for function, names in calls:
                answer = function(*[kwargs[name] for name in names])
                if answer is not None:
                    if first:
                        return answer
                    answers.append(answer)
            return None if first else answers

        return call
