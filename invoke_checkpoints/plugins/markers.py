"""The markers ``hookimpl`` / ``hookspec`` and the project name, on their own, without pluggy.

A module of their own so that ``from invoke_checkpoints import hookimpl`` is typed without
making a type checker read the hook contract's imports (the run context, pydantic's models):
a project's mypy checking its tasks.py follows every import of ``invoke_checkpoints``.

Without pluggy: marking a function is all a marker does, and pluggy reads the mark, not the
marker. :class:`HookimplMarker` and :class:`HookspecMarker` set exactly the attribute pluggy's
markers of the same names set (``invoke_checkpoints_impl`` / ``invoke_checkpoints_spec``, a
dict of the same options with the same defaults), so a function marked here is one marked by
pluggy, to pluggy and to the host (tests/test_plugins_fastpath.py compares the two). Defining
them here lets the built-in plugins and the hook specifications be imported, and a run with
no other plugin be served (``host.py``), without importing pluggy; a type checker sees
pluggy's own classes, so a plugin is checked against pluggy's signatures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["PROJECT", "hookimpl", "hookspec"]

#: The project name pluggy uses; also the entry-point group plugins are found under.
PROJECT = "invoke_checkpoints"


class _Marker:
    """What both markers share: the project name, and marking a function now or later."""

    __slots__ = ("project_name",)
    _SUFFIX = ""

    def __init__(self, project_name: str) -> None:
        self.project_name = project_name

    def _mark(self, function: Any, opts: dict[str, Any], error: str | None = None) -> Any:
        """Mark ``function``, or return what marks one; ``error``: raised (ValueError) when a
        function is marked, as pluggy raises it."""

        def mark(func: Any) -> Any:
            if error is not None:
                raise ValueError(error)
            setattr(func, self.project_name + self._SUFFIX, dict(opts))
            return func

        return mark if function is None else mark(function)


class _ImplMarker(_Marker):
    """pluggy's ``HookimplMarker``, as pluggy 1.3-1.7 define it."""

    __slots__ = ()
    _SUFFIX = "_impl"

    def __call__(
        self,
        function: Any = None,
        hookwrapper: bool = False,
        optionalhook: bool = False,
        tryfirst: bool = False,
        trylast: bool = False,
        specname: str | None = None,
        wrapper: bool = False,
    ) -> Any:
        opts = {
            "wrapper": wrapper,
            "hookwrapper": hookwrapper,
            "optionalhook": optionalhook,
            "tryfirst": tryfirst,
            "trylast": trylast,
            "specname": specname,
        }
        return self._mark(function, opts)


class _SpecMarker(_Marker):
    """pluggy's ``HookspecMarker``, as pluggy 1.5-1.7 define it (older ones ignore the
    ``warn_on_impl_args`` key)."""

    __slots__ = ()
    _SUFFIX = "_spec"

    def __call__(
        self,
        function: Any = None,
        firstresult: bool = False,
        historic: bool = False,
        warn_on_impl: Warning | None = None,
        warn_on_impl_args: Any = None,
    ) -> Any:
        opts = {
            "firstresult": firstresult,
            "historic": historic,
            "warn_on_impl": warn_on_impl,
            "warn_on_impl_args": warn_on_impl_args,
        }
        error = "cannot have a historic firstresult hook" if historic and firstresult else None
        return self._mark(function, opts, error)


if TYPE_CHECKING:
    from pluggy import HookimplMarker, HookspecMarker
else:
    # Named as pluggy names its markers (``type(hookimpl).__name__``, reprs, and the
    # TypeError of a mistaken option, which names ``__call__``'s qualified name).
    for _marker, _name in ((_ImplMarker, "HookimplMarker"), (_SpecMarker, "HookspecMarker")):
        _marker.__name__ = _marker.__qualname__ = _name
        _marker.__call__.__qualname__ = f"{_name}.__call__"
    HookimplMarker, HookspecMarker = _ImplMarker, _SpecMarker

hookspec = HookspecMarker(PROJECT)
hookimpl = HookimplMarker(PROJECT)
