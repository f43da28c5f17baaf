"""Shared by the tests/test_plugins_*.py files: a tasks.py whose plugins log every hook call,
and an installed distribution made on the fly."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from .conftest import Outcome, Project

RECORDER = '''
import json, os, time
from pathlib import Path
from invoke import Collection, task
from invoke_checkpoints import current_step, hookimpl, workflow

LOG = Path(__file__).resolve().parent / "events.jsonl"

BUSY = []  # non-empty while a hook runs: a second hook entering means concurrent calls

def emit(event, run, step=None, **fields):
    row = {"event": event, "pid": os.getpid(), "run": run.workflow_id, "run_status": run.status}
    if step is not None:
        row.update(step=step.number, name=step.name, step_type=type(step).__name__)
    row.update(run_type=type(run).__name__, concurrent=bool(BUSY), **fields)
    BUSY.append(event)
    time.sleep(float(os.environ.get("HOOK_DELAY", "0")))
    with LOG.open("a") as fh:
        fh.write(json.dumps(row) + "\\n")
    BUSY.pop()

def on_disk(run, name):
    path = run.path / name if run.path is not None else None
    return json.loads(path.read_text()) if path is not None and path.exists() else None

def state_on_disk(run, step):
    return (on_disk(run, f"state/step_{step.number:02d}_state.json") or {}).get("status")

class Recorder:
    @hookimpl
    def checkpoints_environment(self, run):
        emit("environment", run)
        return {"recorded": True}

    @hookimpl
    def checkpoints_workflow_start(self, run):
        emit("workflow_start", run, workflow=run.name, path=str(run.path), vars=run.vars)

    @hookimpl
    def checkpoints_should_skip_step(self, run, step):
        emit("should_skip_step", run, step)
        return os.environ.get("SKIP_" + step.name.upper())

    @hookimpl
    def checkpoints_step_start(self, run, step):
        emit("step_start", run, step, disk=state_on_disk(run, step),
             known=getattr(run.state_of(step.number), "status", None))

    @hookimpl
    def checkpoints_step_complete(self, run, step, state):
        marker = run.path and (run.path / f"step_{step.number:02d}.complete").is_file()
        emit("step_complete", run, step, state=state.status.value, state_type=type(state).__name__,
             marker=marker, disk=state_on_disk(run, step))

    @hookimpl
    def checkpoints_step_failed(self, run, step, state, error):
        emit("step_failed", run, step, state=state.status.value, exit_code=state.exit_code,
             error=type(error).__name__, disk=state_on_disk(run, step))

    @hookimpl
    def checkpoints_step_skipped(self, run, step, reason):
        emit("step_skipped", run, step, reason=reason)

    @hookimpl
    def checkpoints_workflow_finish(self, run, status):
        disk = (on_disk(run, "checkpoint.json") or {}).get("status")
        emit("workflow_finish", run, status=status, disk=disk)

class Boom:
    """Raises in the hook named by $BOOM (and, for step hooks, only for step $BOOM_STEP)."""

    def _maybe(self, hook, step=None):
        if os.environ.get("BOOM") != hook:
            return
        if step is None or os.environ.get("BOOM_STEP", step.name) == step.name:
            raise RuntimeError(f"boom in {hook}\\nsecond line")

    @hookimpl
    def checkpoints_environment(self, run):
        self._maybe("checkpoints_environment")

    @hookimpl
    def checkpoints_workflow_start(self, run):
        self._maybe("checkpoints_workflow_start")

    @hookimpl
    def checkpoints_should_skip_step(self, run, step):
        self._maybe("checkpoints_should_skip_step", step)

    @hookimpl
    def checkpoints_step_start(self, run, step):
        self._maybe("checkpoints_step_start", step)

    @hookimpl
    def checkpoints_step_complete(self, run, step, state):
        self._maybe("checkpoints_step_complete", step)

    @hookimpl
    def checkpoints_step_failed(self, run, step, state, error):
        self._maybe("checkpoints_step_failed", step)

    @hookimpl
    def checkpoints_step_skipped(self, run, step, reason):
        self._maybe("checkpoints_step_skipped", step)

    @hookimpl
    def checkpoints_workflow_finish(self, run, status):
        self._maybe("checkpoints_workflow_finish")

@task
def lint(c):
    c.run("echo lint-ran >> log.txt")
    current_step().run.vars["linted"] = True

@task
def test(c):
    c.run("echo test-ran >> log.txt")
    if os.environ.get("FAIL"):
        c.run("exit 3")
    if os.environ.get("SLOW"):
        Path("started").touch()
        time.sleep(30)

@task
def docs(c):
    c.run("echo docs-ran >> log.txt")

ns = Collection(lint, test, docs)
'''

HOOKS = (
    "checkpoints_environment",
    "checkpoints_workflow_start",
    "checkpoints_should_skip_step",
    "checkpoints_step_start",
    "checkpoints_step_complete",
    "checkpoints_step_failed",
    "checkpoints_step_skipped",
    "checkpoints_workflow_finish",
)
ERROR_LINE = re.compile(
    r"^invoke-checkpoints: plugin '(?P<plugin>[^']+)' failed in (?P<hook>\w+): "
)


def write_tasks(
    project: Project,
    plugins: str = "Recorder()",
    config: str = "{}",
    steps: str = "lint, test, docs",
) -> None:
    """RECORDER's tasks.py with ``workflow(<steps>, plugins=[<plugins>])``."""
    project.write(
        textwrap.dedent(RECORDER)
        + f"ns.add_collection(workflow({steps}, plugins=[{plugins}]))\n"
        + f'ns.configure({{"checkpoints": {config}}})\n'
    )


def events(project: Project) -> list[dict[str, Any]]:
    path = project.root / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def trail(rows: list[dict[str, Any]]) -> list[str]:
    """``event`` or ``event:step`` per row, the order the hooks fired in."""
    return [row["event"] + (f":{row['step']}" if "step" in row else "") for row in rows]


def error_lines(outcome: Outcome) -> list[str]:
    return [line for line in outcome.err.splitlines() if ERROR_LINE.match(line)]


FIRST_RUN_FAILING = [
    "environment",
    "workflow_start",
    "should_skip_step:0",
    "step_start:0",
    "step_complete:0",
    "should_skip_step:1",
    "step_start:1",
    "step_failed:1",
    "workflow_finish",
]
RESUMED = [
    "environment",
    "workflow_start",
    "step_skipped:0",
    "should_skip_step:1",
    "step_start:1",
    "step_complete:1",
    "should_skip_step:2",
    "step_start:2",
    "step_complete:2",
    "workflow_finish",
]


def fail_then_resume(project: Project, env: dict[str, str]) -> tuple[Outcome, Outcome]:
    first = project.invoke("workflow", env={"FAIL": "1", **env})
    second = project.invoke("workflow", "--resume", env=env)
    return first, second


STRICT = '{"strict_plugins": True}'


def fake_distribution(
    site: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    *,
    dist: str = "fake-checkpoints-plugin",
    entry_point: str | None = "fake",
) -> str:
    """A real installed distribution (dist-info on sys.path) providing one module."""
    module = f"fakeplug_{uuid.uuid4().hex[:10]}"
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "RECORD").write_text(f"{module}.py,,\n{info.name}/METADATA,,\n")
    if entry_point:
        (info / "entry_points.txt").write_text(f"[invoke_checkpoints]\n{entry_point} = {module}\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(sys.modules, module, None)  # restored (removed) after the test
    del sys.modules[module]
    return module


FAKE_PLUGIN = """
from invoke_checkpoints import hookimpl

@hookimpl
def checkpoints_environment(run):
    return {"loaded": True}
"""
AUTOLOAD_ON = {"INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD": "0"}
AUTOLOAD_OFF = {"INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD": "1"}
