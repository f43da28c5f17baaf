"""Test an invoke-checkpoints plugin in a few lines, like pytest's ``pytester``.

Opt in from a ``conftest.py`` (it is not loaded into unrelated pytest runs)::

    pytest_plugins = ["invoke_checkpoints.testing"]

    def test_my_plugin(workflow_project):
        workflow_project.write('''
            from invoke import Collection, task
            from invoke_checkpoints import workflow
            import my_plugin

            @task
            def build(c):
                pass

            ns = Collection()
            ns.add_collection(workflow(build, plugins=[my_plugin]))
        ''')
        result = workflow_project.run("workflow")
        assert result.code == 0
        assert result.checkpoint["status"] == "completed"

:class:`WorkflowProject` works without pytest too (``WorkflowProject(path)``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["WorkflowProject", "WorkflowResult", "workflow_project"]


@dataclass
class WorkflowResult:
    """What one in-process ``invoke`` command did, and the run it wrote (if any)."""

    #: The exit code (``0`` on success, ``2`` for a user error, ``130`` after Ctrl-C, ...).
    code: int
    out: str
    err: str
    #: The run directory the command created or continued (the newest one), if any.
    run_dir: Path | None = None
    #: That run's checkpoint.json.
    checkpoint: dict[str, Any] | None = None
    #: Step number -> its state file (``state/step_NN_state.json``), for the steps that have one.
    states: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: Steps with a completion marker.
    markers: list[int] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """The lines of ``out``."""
        return self.out.splitlines()


class WorkflowProject:
    """A directory with a tasks.py, where ``invoke`` runs in this process.

    ``autoload``: load the ``invoke_checkpoints`` entry points of installed plugins (off by
    default, so that only the plugins a test names take part).
    """

    def __init__(self, root: Path, *, autoload: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.autoload = autoload

    @property
    def store(self) -> Path:
        """The default checkpoint store, ``.checkpoints`` beside tasks.py."""
        return self.root / ".checkpoints"

    def write(self, source: str, name: str = "tasks.py") -> Path:
        """Write a file (``source`` is dedented); ``tasks.py`` by default."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip("\n"))
        return path

    def configure(self, **checkpoints: Any) -> Path:
        """Write ``invoke.json`` with these ``checkpoints.*`` settings (JSON is valid YAML)."""
        return self.write(json.dumps({"checkpoints": checkpoints}, indent=2), "invoke.json")

    def runs(self, workflow: str = "workflow") -> list[Path]:
        """The run directories of ``workflow``, oldest first."""
        if not self.store.is_dir():
            return []
        return sorted(p for p in self.store.glob(f"{workflow}_*") if p.is_dir())

    def run(
        self, *argv: str, env: Mapping[str, str] | None = None, workflow: str = "workflow"
    ) -> WorkflowResult:
        """Run ``invoke <argv>`` (``invoke <workflow>`` by default) here, in this process.

        The result holds the newest run of ``workflow`` after the command.
        """
        from invoke import Program

        argv = argv or (workflow,)
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with (
            _environment(self.root, env, self.autoload),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            try:
                Program(name="invoke", binary="invoke").run(["invoke", *argv], exit=True)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        result = WorkflowResult(code, out.getvalue(), err.getvalue())
        runs = self.runs(workflow)
        if runs:
            newest = max(runs, key=lambda p: (p / "checkpoint.json").stat().st_mtime_ns)
            _read_run(result, newest)
        return result

    def status(self, run_id: str | None = None, workflow: str = "workflow") -> dict[str, Any]:
        """``invoke <workflow>.status --json`` as a dict."""
        argv = [f"{workflow}.status", "--json", *([f"--run={run_id}"] if run_id else [])]
        result = self.run(*argv)
        if result.code != 0:
            raise AssertionError(f"status failed ({result.code}): {result.err}")
        doc: dict[str, Any] = json.loads(result.out)
        return doc


def _read_run(result: WorkflowResult, run_dir: Path) -> None:
    result.run_dir = run_dir
    with contextlib.suppress(OSError, ValueError):
        result.checkpoint = json.loads((run_dir / "checkpoint.json").read_text())
    for path in sorted((run_dir / "state").glob("step_*_state.json")):
        with contextlib.suppress(OSError, ValueError):
            result.states[int(path.name[5:7])] = json.loads(path.read_text())
    result.markers = sorted(int(p.name[5:-9]) for p in run_dir.glob("step_*.complete"))


@contextlib.contextmanager
def _environment(root: Path, env: Mapping[str, str] | None, autoload: bool) -> Iterator[None]:
    """cwd = ``root``; ``INVOKE_*`` variables of the caller hidden; ``env`` set; stdin empty."""
    saved_env = dict(os.environ)
    saved_cwd, saved_stdin, saved_bytecode = os.getcwd(), sys.stdin, sys.dont_write_bytecode
    try:
        for key in [k for k in os.environ if k.startswith("INVOKE_")]:
            del os.environ[key]
        os.environ["INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"] = "0" if autoload else "1"
        os.environ.update(env or {})
        os.chdir(root)
        # Invoke mirrors stdin into c.run() children; a test has none to give.
        sys.stdin = io.StringIO("")
        # tasks.py may be rewritten within the same second; a stale .pyc would hide that.
        sys.dont_write_bytecode = True
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        sys.stdin, sys.dont_write_bytecode = saved_stdin, saved_bytecode


with contextlib.suppress(ImportError):  # WorkflowProject works without pytest too
    import pytest

    @pytest.fixture
    def workflow_project(tmp_path: Path) -> WorkflowProject:
        """An empty project directory (``tmp_path/project``) to write a tasks.py into and run."""
        return WorkflowProject(tmp_path / "project")
