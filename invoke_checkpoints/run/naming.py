"""Step names and args, checked against the collection Invoke runs, when a workflow task runs.

A step is named as ``invoke --list`` shows its task: ``lint``, ``build-docs``, ``docs.build``
(the shortest path when a task is reachable under several). ``Step(name=...)`` is kept as given.
A task that is in no collection keeps its own name. Two steps with the same final name are
refused in one line; so are step args the task does not take. None of this runs at import time:
an error here must never break ``invoke --list``.

Imported only when a workflow task runs; Invoke and the standard library only.
"""

from __future__ import annotations

import inspect
import threading
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError

if TYPE_CHECKING:
    from collections.abc import Container, Sequence

    from invoke import Collection, Task

    from .definition import StepSpec, WorkflowDefinition

__all__ = [
    "Signatures",
    "StepDefinitionError",
    "bind_definition",
    "bind_steps",
    "step_signature",
    "task_paths",
]


class StepDefinitionError(CheckpointError, ValueError):
    """Two steps with one name, or step args the task does not take."""


def task_paths(root: Collection) -> dict[Task[Any], list[str]]:
    """Task -> the dotted names ``invoke --list`` shows for it, shortest first.

    Keyed by Invoke's own task equality (name and body): the collection Invoke runs holds deep
    copies of the tasks a tasks.py defined (``Collection.from_module``).
    """
    found: dict[Task[Any], list[str]] = {}
    level: list[tuple[str, Collection]] = [("", root)]
    while level:
        deeper: list[tuple[str, Collection]] = []
        for prefix, coll in level:
            for name, task in coll.tasks.items():
                found.setdefault(task, []).append(prefix + name)
            for name, sub in coll.collections.items():
                deeper.append((f"{prefix}{name}.", sub))
        level = deeper
    return found


def _spellings(name: str, path: str | None, task: Task[Any]) -> tuple[str, ...]:
    """Every spelling a user may type for a step: listed, dashed, underscored, Python name."""
    out: list[str] = []
    for base in (name, path or "", task.name, getattr(task.body, "__name__", "")):
        for form in (base, base.replace("_", "-"), base.replace("-", "_")):
            if form and form not in out:
                out.append(form)
    return tuple(out)


def bind_definition(definition: WorkflowDefinition, root: Collection | None) -> None:
    """Name the steps after their tasks' paths in ``root`` (the collection Invoke runs) and
    check their args; refuse duplicate names. Called when a workflow task runs, never at
    import (an error here must not break ``invoke --list``)."""
    if definition.bound and root is definition.root:
        return
    bind_steps(definition.name, definition.steps, root)
    definition.root = root
    definition.step_names = tuple(s.name for s in definition.steps)
    definition.bound = True


def bind_steps(workflow: str, steps: tuple[StepSpec, ...], root: Collection | None) -> None:
    """Give every step its final name, path and aliases; check names and args."""
    paths = task_paths(root) if root is not None else {}
    seen: dict[str, int] = {}
    taken: set[str] = set()
    for spec in steps:
        candidates = paths.get(spec.task, [])
        if spec.named and spec.name in candidates:
            spec.path = spec.name  # Step(task, name="www.build"): that path, its config
        else:
            # One Task object added to several collections: each step takes the next path.
            free = [path for path in candidates if path not in taken]
            spec.path = (free or candidates)[0] if candidates else None
        if spec.path is not None:
            taken.add(spec.path)
        if not spec.named and spec.path is not None:
            spec.name = spec.path
        spec.aliases = _spellings(spec.name, spec.path, spec.task)
        if spec.name in seen:
            raise StepDefinitionError(
                f"workflow {workflow!r} has two steps named {spec.name!r} (steps "
                f"{seen[spec.name]} and {spec.number}); give one a name with Step(task, name=...)"
            )
        seen[spec.name] = spec.number
        spec.args = check_args(workflow, spec)


def check_args(workflow: str, spec: StepSpec) -> dict[str, Any]:
    """``spec.args`` with CLI spellings (``with-mypy``) mapped to the parameter (``with_mypy``);
    an argument the task does not take is refused."""
    if not spec.args:
        return {}  # nothing to map or refuse: no signature to read (300 of them per start)
    try:
        params = list(inspect.signature(spec.task.body).parameters.values())[1:]
    except (TypeError, ValueError):
        return dict(spec.args)  # a callable without a signature: Invoke will tell
    names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in params)
    out: dict[str, Any] = {}
    for key, value in spec.args.items():
        name = key if key in names else key.replace("-", "_")
        if name not in names and not open_ended:
            takes = ", ".join(n.replace("_", "-") for n in names) or "no arguments"
            raise StepDefinitionError(
                f"workflow {workflow!r} step {spec.number} ({spec.name}): task "
                f"{spec.task.name!r} takes no argument {key!r} (it takes: {takes})"
            )
        if name not in names:
            name = key
        if name in out:
            raise StepDefinitionError(
                f"workflow {workflow!r} step {spec.number} ({spec.name}): argument {name!r} "
                "is given twice"
            )
        out[name] = value
    return out


def expect_signatures(specs: list[StepSpec]) -> None:
    """The signatures of ``specs`` will be asked for (their steps are about to run): their
    tasks' files are read once for all of them (``plugins/source.py``)."""
    from ..plugins.source import expect

    expect([spec.task.body for spec in specs])


def step_signature(spec: StepSpec) -> str:
    """Hash of a step's name, args and code (its task's and its pre/post tasks')."""
    import json

    from ..plugins.fingerprint import sha256_hex, step_code_hash

    blob = json.dumps([spec.name, spec.args, step_code_hash(spec.task)], default=repr)
    return sha256_hex(blob.encode())


class Signatures:
    """The signatures of a run's steps, each computed shortly before its step starts: when a
    step asks for its own, those of the next steps to run are computed with it, a batch at a
    time. One after another they cost a third of what they cost one per step, between the
    other work of each step (a 300-step resume: 2.1 ms instead of 6.8 ms, warm). A step's
    signature is thus of its source as its file was up to ``BATCH`` steps before it started
    (the code that runs was imported before any), not at its very start."""

    BATCH = 64

    def __init__(self, steps: Sequence[StepSpec], done: Container[int]) -> None:
        self._steps = steps
        #: Steps with a marker (grows as the run goes): none is computed for them.
        self._done = done
        self._ready: dict[int, str] = {}
        self._lock = threading.Lock()

    def of(self, spec: StepSpec) -> str:
        """``step_signature(spec)``, computed now or with an earlier step's."""
        with self._lock:
            known = self._ready.pop(spec.number, None)
        if known is not None:
            return known
        signature = step_signature(spec)  # its own first: an error is raised as before
        ahead: dict[int, str] = {}
        for later in self._steps[spec.number + 1 : spec.number + self.BATCH]:
            if later.number in self._done:
                continue
            try:
                ahead[later.number] = step_signature(later)
            except Exception:  # raised again when that step asks for its own
                # (nothing is cached for it)
                continue
        with self._lock:
            self._ready.update(ahead)
        return signature
