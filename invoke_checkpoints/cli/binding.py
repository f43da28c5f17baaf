"""What every workflow task needs: the collection Invoke runs it from, and the Task itself.

Imported with tasks.py (through ``collection.py``): nothing heavy at module level.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from invoke import Argument, Collection, Executor, Task

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    from ..run.definition import WorkflowDefinition

__all__ = ["bound", "invoking_collection", "make_task"]


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


def bound(definition: WorkflowDefinition) -> WorkflowDefinition:
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


class _Task(Task[Any]):
    """A Task whose flags may declare their value type: Invoke infers it from the default, so
    a flag defaulting to ``None`` (not given) would otherwise take a string."""

    kinds: dict[str, type] = {}  # noqa: RUF012  # replaced per instance, never mutated

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        arguments: list[Argument] = super().get_arguments(ignore_unknown_help)
        for argument in arguments:
            argument.__class__ = _Argument  # same fields; only set_value differs
        return arguments

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        if name in self.kinds:
            opts["kind"] = self.kinds[name]
        return opts


class _Argument(Argument):
    """A flag whose malformed value (``--keep=abc``) is one line, exit 2, not a traceback."""

    def set_value(self, value: Any, cast: bool = True) -> None:
        try:
            super().set_value(value, cast=cast)
        except ValueError:
            from invoke.exceptions import Exit

            kind = {int: "a whole number", float: "a number"}.get(self.kind, "valid")
            raise Exit(
                f"invoke-checkpoints: --{str(self.name).replace('_', '-')} must be {kind}, "
                f"got {value!r}",
                2,
            ) from None


def make_task(
    body: Callable[..., None], name: str, *, kinds: dict[str, type] | None = None, **kwargs: Any
) -> Task[Any]:
    """An Invoke task without short flags; ``kinds``: value types of flags defaulting to None."""
    task = _Task(body, name=name, auto_shortflags=False, **kwargs)
    task.kinds = dict(kinds or {})
    return task
