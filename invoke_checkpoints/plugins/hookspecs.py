"""The plugin contract: every hook invoke-checkpoints calls, when it fires, what it may return.

Implement any subset in a module or object, decorate each function with
``@invoke_checkpoints.hookimpl`` and register it through the ``invoke_checkpoints`` entry-point
group, ``workflow(..., plugins=[...])`` or the ``checkpoints.plugins`` config key. pluggy matches
arguments by name; take only the ones you need.

Arguments:

* ``run`` - :class:`invoke_checkpoints.RunInfo`: ``workflow_id``, ``name``, ``path``, ``status``,
  ``vars``, ``steps`` and ``outputs_of(step)``.
  ``vars``, ``steps``, ``options``, ``started_at``, ``enabled``, ``config(plugin)``,
  ``outputs_of(step)`` and ``state_of(step)``.
* ``step`` - :class:`invoke_checkpoints.StepInfo`: ``number``, ``name``, ``task``, ``args``,
  ``inputs``, ``tags``, ``meta``, ``group``.
* ``state`` - :class:`invoke_checkpoints.StepState`, exactly as written to disk.

Notification hooks fire exactly once per occurrence, in order, one call at a time (even while
parallel steps run: the main thread makes every call but the built-ins' and the
``checkpoints_run_step`` wrappers'), including after a resume in a new process. Built-in
plugins receive each notification first. A hook that raises (``KeyboardInterrupt`` and
``SystemExit`` included) never changes a step's outcome or a checkpoint: the error is printed
as one line naming the plugin, recorded in the run's warnings, and the workflow goes on (unless
``checkpoints.strict_plugins`` is true). Ctrl-C / SIGTERM during a hook gives the hooks a grace
period of ``run.context.GRACE_SECONDS`` (0.5 s) in all, then abandons them. Guide: docs/plugins.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .markers import PROJECT, hookimpl, hookspec

__all__ = ["PROJECT", "hookimpl", "hookspec"]

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..run.context import RunInfo, StepInfo
    from ..store.records import StepState


# -- run -------------------------------------------------------------------------------------


@hookspec
def checkpoints_environment(run: RunInfo) -> dict[str, Any] | None:
    """Describe the world this run executes in.

    Fires once per process when a run starts or resumes, before ``checkpoints_workflow_start``
    (not with ``checkpoints.enabled: false``: nothing is written then). Return a dict of JSON
    values; it is stored in checkpoint.json ``environment`` under the plugin's name (the
    built-in ``environment`` plugin's keys go at the top level). Any other return value but
    ``None`` is reported like an exception.
    """


@hookspec
def checkpoints_workflow_start(run: RunInfo) -> None:
    """A run starts, or resumes in this process. ``run.status`` is ``running``."""


@hookspec
def checkpoints_workflow_finish(run: RunInfo, status: str) -> None:
    """A run stops in this process: ``status`` is completed, failed or interrupted.

    Fires after checkpoint.json holds that status.
    """


# -- steps -----------------------------------------------------------------------------------


@hookspec(firstresult=True)
def checkpoints_should_skip_step(run: RunInfo, step: StepInfo) -> str | None:
    """Decide whether a step that would run is skipped instead.

    Fires for each step that has no completion marker, before ``checkpoints_step_start``.
    The first non-empty string returned skips the step with that reason (recorded in its state
    file and in checkpoint.json ``smart_execution``) and ``checkpoints_step_skipped`` fires;
    ``None`` or ``""`` lets it run. Any other return value is reported like an exception.
    ``--dry-run`` calls it too, to show the plan: it must have no side effects.
    """


@hookspec
def checkpoints_step_start(run: RunInfo, step: StepInfo) -> None:
    """A step is about to execute; ``run.state_of(step)`` says ``running``.

    The state *file* says ``running`` once the step has run 0.1 s or started a command (a
    quicker step only has its final state written); in a remote store, once it has run 2 s.
    """


@hookspec(firstresult=True)
def checkpoints_run_step(run: RunInfo, step: StepInfo, execute: Callable[[], Any]) -> Any:
    """Wrap a step's execution: the one hook that takes wrappers, and only wrappers.

    Implement it as ``@hookimpl(wrapper=True)`` generator: code before ``yield`` runs just
    before the task (with its pre/post tasks), ``yield`` returns the task's result or raises
    its exception, and what the wrapper returns (or raises) is the step's outcome. Calling
    ``execute()`` runs the task again (a retry); its result or exception is the step's own.
    ``@hookimpl(hookwrapper=True)`` (pluggy's older style) works too.

    Wrappers run in the step's thread, inside ``current_step()``: for the steps of a parallel
    group, concurrently. An exception a wrapper raises before ``yield``, or after it unless it
    is the step's own, is reported like any hook error and leaves the step's outcome alone.
    ``duration_seconds`` counts the task's executions only, not the wrappers' own time.
    """


@hookspec
def checkpoints_step_complete(run: RunInfo, step: StepInfo, state: StepState) -> None:
    """A step succeeded. Fires only after its ``step_NN.complete`` marker is durably on disk."""


@hookspec
def checkpoints_step_failed(
    run: RunInfo, step: StepInfo, state: StepState, error: BaseException
) -> None:
    """A step failed or was interrupted; fires after its failed state is on disk.

    ``error`` is the exception that ended the step (``invoke.UnexpectedExit`` for a failed
    command, ``KeyboardInterrupt`` for Ctrl-C).
    """


@hookspec
def checkpoints_step_skipped(run: RunInfo, step: StepInfo, reason: str) -> None:
    """A step is not executed: ``already_complete`` on resume, a smart skip, or a plugin's rule."""
