"""What pluggy calls in place of a plugin: an adapter whose hooks contain the plugin's errors.

pluggy's hook callers do the ordering (tryfirst/trylast, last registered first), firstresult and
monitoring, but one implementation raising stops the whole call. So each plugin is registered as
an :class:`Adapter` holding one wrapper per hook implementation. A wrapper looks like the
implementation to pluggy: ``functools.wraps`` sets ``__wrapped__``, through which pluggy reads
the argument names, and it carries a copy of the hookimpl options (tryfirst, trylast, specname).
Called, it calls the implementation and turns an exception or a result of the wrong type into
one reported line and ``None``, so the remaining implementations still run.

A wrapper of ``checkpoints_run_step`` (``wrapper=True`` or ``hookwrapper=True``) is wrapped by
a generator that contains its errors too: one raised before its ``yield`` is reported and the
step runs without it; one raised after it is reported and the step keeps its own outcome,
unless it is the step's own exception (re-raised, or raised by ``execute()``).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any, NamedTuple

from ..run.context import HookInterrupted, RunInfo, StepInfo
from .hookspecs import PROJECT

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Mapping
    from collections.abc import Set as AbstractSet
    from contextlib import AbstractContextManager

    import pluggy

__all__ = [
    "PREFIX",
    "STEP_ERRORS",
    "Adapter",
    "Answer",
    "Hook",
    "Isolation",
    "describe",
    "hooks_of",
    "trace",
]

#: Exceptions the step being executed (or its ``execute()`` retries) raised, in this context:
#: a run_step wrapper raising one of them reports the step's outcome, not an error of its own.
STEP_ERRORS: contextvars.ContextVar[list[BaseException]] = contextvars.ContextVar(
    "invoke_checkpoints_step_errors"
)

#: How every line this package writes to stderr starts.
PREFIX = "invoke-checkpoints"


class Answer(NamedTuple):
    """A hook's non-``None`` result and the plugin that returned it."""

    plugin: str
    value: Any


class Isolation:
    """What every wrapper shares: where failures go, and whether calls are traced."""

    def __init__(self, report: Callable[[str, bool], None], *, debug: bool) -> None:
        #: Called with the one-line message of each failure, and whether it counts for
        #: ``strict_plugins`` (a hook abandoned because the run is interrupted does not).
        self.report = report
        self.debug = debug
        #: Set while a run executes: the region each third-party implementation runs in, so a
        #: signal can abandon it (``SignalGuard.hook``). ``None``: Ctrl-C is not contained.
        self.region: Callable[[], AbstractContextManager[None]] | None = None


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

    __slots__ = ("argnames", "builtin", "hook", "isolation", "plugin")

    def __init__(self, hook: Hook, plugin: str, isolation: Isolation, *, builtin: bool) -> None:
        self.hook = hook
        self.plugin = plugin
        self.isolation = isolation
        #: Built-ins are trusted to be quick: no signal region, still delivered after Ctrl-C.
        self.builtin = builtin
        #: The names pluggy passes positionally, known once registered (for the trace only).
        self.argnames: tuple[str, ...] = ()

    def fail(self, exc: BaseException, started: float, *, strict: bool = True) -> None:
        hook = self.hook.name
        if self.isolation.debug:
            trace(f"{hook} <- {self.plugin} raised {type(exc).__name__} {_took(started)}")
            sys.stderr.write("".join(traceback.format_exception(exc)))
        self.isolation.report(f"plugin {self.plugin!r} failed in {hook}: {describe(exc)}", strict)

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Answer | None:
        hook, debug = self.hook.name, self.isolation.debug
        if debug:
            # Not strict: a trace line must never be what fails a call.
            shown = [*zip(self.argnames, args, strict=False), *kwargs.items()]
            trace(f"{hook}({', '.join(f'{k}={_brief(v)}' for k, v in shown)}) -> {self.plugin}")
        started = time.perf_counter()
        region = self.isolation.region
        try:
            with contextlib.nullcontext() if self.builtin or region is None else region():
                result = self.hook.function(*args, **kwargs)
        except HookInterrupted as exc:
            what = "abandoned" if time.perf_counter() - started > 0.001 else "skipped"
            self.isolation.report(
                f"plugin {self.plugin!r} {what} in {hook}: the run was interrupted by signal "
                f"{exc.signum} and its hooks' grace period is over",
                False,
            )
            return None
        except KeyboardInterrupt:
            if region is None:
                raise  # no run is being guarded (say --dry-run): Ctrl-C stops the command
            self.fail(KeyboardInterrupt("raised by the hook itself"), started)
            return None
        except (Exception, SystemExit) as exc:
            self.fail(exc, started)
            return None
        if debug:
            returned = f" returned {_brief(result)}" if result is not None else ""
            trace(f"{hook} <- {self.plugin}{returned} {_took(started)}")
        expected = self.hook.expected
        if result is not None and expected is not None and not isinstance(result, expected):
            self.isolation.report(
                f"plugin {self.plugin!r} failed in {hook}: returned "
                f"{type(result).__name__}, expected {expected.__name__} or None",
                True,
            )
            return None
        if result is None or (self.hook.firstresult and not result):
            return None  # pluggy's firstresult stops at the first result that is not None
        return Answer(self.plugin, result)


class Adapter:
    """Registered with pluggy for one plugin: an attribute per hook, each an isolating wrapper.

    Only the wrappers are plain functions among its attributes, so pluggy finds nothing else.
    """

    def __init__(
        self, name: str, hooks: Iterable[Hook], isolation: Isolation, *, builtin: bool = False
    ) -> None:
        self._name = name
        self._isolated: dict[Callable[..., Any], _Isolated] = {}
        for hook in hooks:
            isolated = _Isolated(hook, name, isolation, builtin=builtin)
            if hook.opts.get("wrapper"):
                wrapper = _wrap_new_style(hook.function, isolated)
            elif hook.opts.get("hookwrapper"):
                wrapper = _wrap_old_style(hook.function, isolated)
            else:
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


def _step_error(exc: BaseException) -> bool:
    return any(exc is known for known in STEP_ERRORS.get([]))


def _setup(gen_function: Callable[..., Any], isolated: _Isolated, args: tuple[Any, ...]) -> Any:
    """Start a wrapper up to its ``yield``; ``None`` (reported) when it fails before that."""
    started = time.perf_counter()
    try:
        gen = gen_function(*args)
        next(gen)
    except StopIteration:
        isolated.fail(RuntimeError("the wrapper did not yield"), started)
        return None
    except (Exception, SystemExit, KeyboardInterrupt) as exc:
        isolated.fail(exc, started)
        return None
    return gen


def _wrap_new_style(function: Callable[..., Any], isolated: _Isolated) -> Callable[..., Any]:
    @functools.wraps(function)
    def isolating(*args: Any) -> Generator[None, Any, Any]:
        gen = _setup(function, isolated, args)
        if gen is None:
            return (yield)
        started = time.perf_counter()
        try:
            result = yield
        except BaseException as exc:
            try:
                gen.throw(exc)
            except StopIteration as stop:
                return stop.value  # the wrapper turned the failure into a result (a retry)
            except BaseException as out:
                if out is exc or _step_error(out) or isinstance(out, HookInterrupted):
                    raise
                isolated.fail(out, started)
                raise exc from None
            gen.close()
            isolated.fail(RuntimeError("the wrapper yielded twice"), started)
            raise
        try:
            gen.send(result)
        except StopIteration as stop:
            return stop.value
        except BaseException as out:
            if _step_error(out) or not isinstance(out, (Exception, SystemExit)):
                raise
            isolated.fail(out, started)
            return result
        gen.close()
        isolated.fail(RuntimeError("the wrapper yielded twice"), started)
        return result

    return isolating


def _wrap_old_style(function: Callable[..., Any], isolated: _Isolated) -> Callable[..., Any]:
    @functools.wraps(function)
    def isolating(*args: Any) -> Generator[None, Any, None]:
        gen = _setup(function, isolated, args)
        outcome = yield
        if gen is None:
            return
        started = time.perf_counter()
        try:
            gen.send(outcome)
        except StopIteration:
            return
        except (Exception, SystemExit) as out:
            isolated.fail(out, started)
            return
        gen.close()
        isolated.fail(RuntimeError("the wrapper yielded twice"), started)

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
