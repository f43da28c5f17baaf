"""The maintenance and remote-store tasks of a workflow: ``repair``, ``clean``, ``unlock``,
``export`` and ``import`` (their bodies are in ``commands.py`` and ``remote.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .binding import bound, make_task

if TYPE_CHECKING:
    from invoke import Context, Task

    from ..run.definition import WorkflowDefinition

__all__ = ["maintenance_tasks", "remote_tasks"]


def maintenance_tasks(definition: WorkflowDefinition) -> list[Task[Any]]:
    """``repair`` and ``clean``."""
    name = definition.name
    tasks: list[Task[Any]] = []

    def repair(c: Context, run: str | None = None, dry_run: bool = False) -> None:
        from .maintenance import repair_command

        repair_command(c, bound(definition), run, dry_run=dry_run)

    repair.__doc__ = f"Rebuild a missing or corrupt checkpoint.json of a run of workflow '{name}'."
    tasks.append(
        make_task(
            repair,
            "repair",
            help={"run": "run id (default: latest)", "dry-run": "say what would be rebuilt"},
        )
    )

    def clean(
        c: Context,
        older_than: int | None = None,
        keep: int | None = None,
        all: bool = False,
        dry_run: bool = False,
    ) -> None:
        from .maintenance import clean_command

        clean_command(
            c, bound(definition), older_than=older_than, keep=keep, everything=all, dry_run=dry_run
        )

    clean.__doc__ = (
        f"Remove old runs of workflow '{name}' (default: older than checkpoints.retention_days)."
        f"\n\n    invoke {name}.clean [--older-than=DAYS] [--keep=N] [--all] [--dry-run]\n\n"
        "Without --all or --older-than, the runs older than checkpoints.retention_days go; "
        "--keep=N protects the newest N runs from whatever else would remove them. The run "
        "active now is never removed."
    )
    tasks.append(
        make_task(
            clean,
            "clean",
            kinds={"older_than": int, "keep": int},
            help={
                "older-than": "DAYS: remove runs whose last activity is older than DAYS days "
                "(default: checkpoints.retention_days)",
                "keep": "N: never remove the newest N runs (with the age limit or --all)",
                "all": "remove every run (except one running now, and the --keep newest)",
                "dry-run": "list what would be removed and the space it frees; remove nothing",
            },
        )
    )
    return tasks


def remote_tasks(definition: WorkflowDefinition) -> list[Task[Any]]:
    """``unlock``, ``export`` and ``import`` (docs/remote.md)."""
    name = definition.name
    tasks: list[Task[Any]] = []

    def unlock(c: Context, force: bool = False) -> None:
        from .remote import unlock_command

        unlock_command(c, definition, force=force)

    unlock.__doc__ = f"Free the lock of workflow '{name}' whose holder is known to be dead."
    tasks.append(
        make_task(
            unlock,
            "unlock",
            help={"force": "remove a remote lock at once, without waiting for its lease to lapse"},
        )
    )

    def export(c: Context, run: str | None = None, output: str = "") -> None:
        from .remote import export_command

        export_command(c, definition, run, output)

    export.__doc__ = f"Write one run of workflow '{name}' to a .tar.gz (to import elsewhere)."
    tasks.append(
        make_task(
            export,
            "export",
            help={"run": "run id (default: latest)", "output": "archive to write (run.tar.gz)"},
        )
    )

    def import_(c: Context, input: str = "") -> None:
        from .remote import import_command

        import_command(c, definition, input)

    import_.__doc__ = f"Add a run exported by `{name}.export` to this project's store."
    tasks.append(
        make_task(
            import_,
            "import",
            help={"input": "archive written by export"},
        )
    )
    return tasks
