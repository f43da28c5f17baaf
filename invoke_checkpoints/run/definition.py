"""Workflow definitions: ``Step`` (a task with a name, args and inputs) and parallel groups.

Imported when tasks.py is, so it stays light: Invoke and the standard library only.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from invoke import Task

from .jsonsafe import MAX_DEPTH, encode

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from invoke import Collection

__all__ = ["Step", "StepSpec", "WorkflowDefinition", "build_steps", "check_name", "find_step"]


class Step:
    """A workflow step: ``Step(task, *, name=None, args=None, inputs=(), tags=(), meta=None)``.

    ``args`` are keyword arguments for the task; ``inputs`` are glob patterns relative to the
    project root (``**`` allowed) whose files decide smart skipping; ``tags`` (strings) and
    ``meta`` (JSON values) are for plugins, which see them as ``step.tags`` / ``step.meta``.
    A bare Task is ``Step(task)``.
    """

    __slots__ = ("args", "inputs", "meta", "name", "named", "tags", "task")

    def __init__(
        self,
        task: Task[Any] | Callable[..., Any],
        *,
        name: str | None = None,
        args: Mapping[str, Any] | None = None,
        inputs: Iterable[str] = (),
        tags: Iterable[str] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"Step() needs an invoke Task (decorate it with @task), got {task!r}")
        self.task: Task[Any] = task
        self.name = check_name("step", name) if name is not None else task.name
        #: ``name=`` was given: the name is kept as is, never derived from the collection.
        self.named = name is not None
        self.args = dict(args or {})
        self.inputs = (inputs,) if isinstance(inputs, str) else tuple(inputs)
        for key, value in self.args.items():
            if not isinstance(key, str) or encode(value) is None:
                raise TypeError(
                    f"Step {self.name!r}: args[{_short(key)}] must be a JSON value that can be "
                    f"saved (str, int, float, bool, None, list, dict; at most {MAX_DEPTH} "
                    f"levels deep; no NaN, lone surrogates or huge integers), got "
                    f"{type(value).__name__}"
                )
        self.tags = _tags(self.name, tags)
        self.meta = dict(meta or {})
        for key, value in self.meta.items():
            if not isinstance(key, str) or encode(value) is None:
                raise TypeError(
                    f"Step {self.name!r}: meta[{_short(key)}] must be a JSON value that can be "
                    "saved"
                )
        for pattern in self.inputs:
            pure = PurePosixPath(pattern)
            if not pattern or pure.is_absolute() or ".." in pure.parts:
                raise ValueError(
                    f"Step {self.name!r}: input pattern {pattern!r} must be relative to the "
                    "project root and must not contain '..'"
                )

    def __repr__(self) -> str:
        return f"Step({self.task.name!r}, name={self.name!r})"


def check_name(kind: str, name: object) -> str:
    """A step or workflow name, refused in one line if it could not be shown, stored or typed
    back: control characters (newline, CR), Unicode line separators (U+2028), other
    unprintable characters, surrounding spaces."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"{kind} name must be a non-empty string, got {_short(name)}")
    if not name.isprintable() or name != name.strip():
        raise ValueError(
            f"{kind} name {_short(name)} must be printable text without control characters, "
            "line separators or surrounding spaces"
        )
    return name


def _short(value: object) -> str:
    """A repr for an error message: ASCII (so U+2028 shows as an escape), bounded, and safe
    from a ``__repr__`` that raises."""
    try:
        text = ascii(value)
    except Exception:
        return f"<{type(value).__name__} object>"
    return text if len(text) <= 80 else text[:77] + "..."


def _tags(step: str, tags: Iterable[str]) -> frozenset[str]:
    items = (tags,) if isinstance(tags, str) else tuple(tags)
    for tag in items:
        if not isinstance(tag, str) or not tag.strip() or tag != tag.strip():
            raise TypeError(
                f"Step {step!r}: tags must be non-empty strings without surrounding spaces, "
                f"got {tag!r}"
            )
    return frozenset(items)


class StepSpec:
    """One numbered step as the engine runs it.

    Plain slotted classes here, not dataclasses: this module is imported with tasks.py.
    """

    __slots__ = (
        "aliases",
        "args",
        "group",
        "inputs",
        "meta",
        "name",
        "named",
        "number",
        "path",
        "tags",
        "task",
    )

    def __init__(
        self,
        number: int,
        name: str,
        task: Task[Any],
        args: dict[str, Any] | None = None,
        inputs: tuple[str, ...] = (),
        group: int | None = None,
        tags: frozenset[str] = frozenset(),
        meta: dict[str, Any] | None = None,
        *,
        named: bool = False,
    ) -> None:
        self.number = number
        self.name = name
        self.task = task
        self.args: dict[str, Any] = args or {}
        self.inputs = inputs
        #: Index into ``WorkflowDefinition.groups`` when the step is in a parallel group.
        self.group = group
        self.tags = tags
        self.meta: dict[str, Any] = meta or {}
        #: ``Step(name=...)`` was given.
        self.named = named
        #: The task's dotted path in the collection Invoke runs (``docs.build``), once bound.
        self.path: str | None = None
        #: Other spellings ``--resume-from`` accepts (Python name, dashed name, dotted path).
        self.aliases: tuple[str, ...] = ()


class WorkflowDefinition:
    """Everything ``workflow(...)`` was given, as the commands need it."""

    __slots__ = (
        "bound",
        "groups",
        "name",
        "namespace",
        "options",
        "origin",
        "plugins",
        "root",
        "step_names",
        "steps",
    )

    def __init__(
        self,
        name: str,
        steps: tuple[StepSpec, ...],
        origin: Path,
        options: dict[str, Any] | None = None,
        plugins: tuple[object, ...] = (),
        groups: tuple[tuple[int, ...], ...] = (),
    ) -> None:
        self.name = name
        self.steps = steps
        #: Directory of the module that called ``workflow()``; the store's fallback location.
        self.origin = origin
        self.options: dict[str, Any] = options or {}
        self.plugins = plugins
        #: Step numbers of each parallel group, in order.
        self.groups = groups
        self.step_names = tuple(s.name for s in steps)
        #: The globals of the module that called ``workflow()`` (to find its ``ns``).
        self.namespace: dict[str, Any] = {}
        #: The root collection the steps' tasks were found in (``None``: not found); set with
        #: the final step names by ``naming.bind_definition`` when a workflow task runs.
        self.root: Collection | None = None
        self.bound = False

    def step_number(self, step: int | str) -> int:
        """The number of a step given by number (also as text, ``"2"``), name or alias."""
        return find_step(self.name, self.step_names, step, aliases=self.aliases())

    def aliases(self) -> tuple[tuple[str, ...], ...]:
        return tuple(s.aliases for s in self.steps)

    def batches(self) -> list[tuple[int, ...]]:
        """Steps in execution order: a single step, or a whole parallel group, per batch."""
        out: list[tuple[int, ...]] = []
        for spec in self.steps:
            if spec.group is None:
                out.append((spec.number,))
            elif spec.number == self.groups[spec.group][0]:
                out.append(self.groups[spec.group])
        return out


def find_step(
    workflow: str,
    names: tuple[str, ...],
    step: int | str,
    run_id: str | None = None,
    aliases: tuple[tuple[str, ...], ...] = (),
) -> int:
    """The number of ``step`` (a number, its text, a name, or an alias naming one step)."""
    if isinstance(step, str) and step.strip().isdigit():
        step = int(step.strip())
    if isinstance(step, int) and not isinstance(step, bool) and 0 <= step < len(names):
        return step
    if isinstance(step, str) and step.strip() in names:
        return names.index(step.strip())
    if isinstance(step, str):
        hits = [n for n, spellings in enumerate(aliases) if step.strip() in spellings]
        if len(hits) == 1:
            return hits[0]
    from ..errors import UnknownStepError

    if isinstance(step, str) and not step.strip():
        raise UnknownStepError(
            f"an empty step was given: name a step of workflow {workflow!r} by number or "
            f"name (steps: {', '.join(names)})",
            run_id=run_id,
        )

    raise UnknownStepError(
        f"workflow {workflow!r} has no step {step!r} (steps: {', '.join(names)})", run_id=run_id
    )


def _as_step(item: object, where: str) -> Step:
    if isinstance(item, Step):
        return item
    if isinstance(item, Task):
        return Step(item)
    raise TypeError(
        f"{where} must be an invoke Task or a Step (decorate it with @task), got {item!r}"
    )


def build_steps(
    workflow: str, items: tuple[object, ...]
) -> tuple[tuple[StepSpec, ...], tuple[tuple[int, ...], ...]]:
    """Number the steps from 0; a list or tuple of steps is a parallel group."""
    specs: list[StepSpec] = []
    groups: list[tuple[int, ...]] = []
    for position, item in enumerate(items):
        where = f"workflow {workflow!r} item {position}"
        if isinstance(item, (list, tuple)):
            if not item:
                raise ValueError(f"{where} is an empty parallel group")
            members = []
            for inner in item:
                if isinstance(inner, (list, tuple)):
                    raise TypeError(f"{where}: parallel groups cannot be nested")
                step = _as_step(inner, where)
                members.append(len(specs))
                specs.append(_spec(len(specs), step, len(groups)))
            groups.append(tuple(members))
        else:
            specs.append(_spec(len(specs), _as_step(item, where), None))
    # Duplicate names are refused when the workflow runs (``WorkflowDefinition.bind``): the
    # final names come from the collection Invoke runs, which does not exist yet.
    return tuple(specs), tuple(groups)


def _spec(number: int, step: Step, group: int | None) -> StepSpec:
    return StepSpec(
        number,
        step.name,
        step.task,
        step.args,
        step.inputs,
        group,
        step.tags,
        step.meta,
        named=step.named,
    )
