"""The ``<workflow>.report`` task (``cli/report.py`` does the work, imported when it runs).

Built when tasks.py is imported, like the other tasks of ``collection.py``: Invoke only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke import Context, Task

if TYPE_CHECKING:
    from ..run.definition import WorkflowDefinition

__all__ = ["report_task"]


def report_task(definition: WorkflowDefinition) -> Task[Any]:
    """``invoke <workflow>.report [--run=ID | --last=N] [--output=PATH] [--open]``."""
    name = definition.name

    def report(
        c: Context,
        run: str | None = None,
        last: int = -1,  # -1: not given (--last=0 is refused, not taken for "not given")
        output: str | None = None,
        open: bool = False,
    ) -> None:
        from .report import report_command

        last_n = None if last == -1 else last
        report_command(c, definition, run_id=run, last=last_n, output=output, open_it=open)

    report.__doc__ = (
        f"Write an HTML report (timeline) of runs of workflow '{name}'; print its path."
    )
    return Task(
        report,
        name="report",
        auto_shortflags=False,
        help={
            "run": "run id (default: latest)",
            "last": "the newest N runs, with their trends across runs",
            "output": f"file to write (default: <checkpoints.dir>/{name}-report.html)",
            "open": "open the report in the default browser",
        },
    )
