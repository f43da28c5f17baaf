"""Real-world tasks.py files (issue 13): what Invoke does for a task keeps working the same way
inside a workflow. Built on ``tests/projects/realworld`` (pre/post chains, a ``docs``
sub-collection with its own config, a task that changes directory and sets a variable).
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import INVOKE, Project, wait_for

NAMES = ["lint", "test", "build-docs", "docs.build", "package", "release"]


@pytest.fixture
def realworld(project: Project) -> Project:
    project.use("realworld")
    return project


def log(project: Project) -> list[str]:
    path = project.root / "log.txt"
    return path.read_text().splitlines() if path.exists() else []


def status(project: Project) -> dict[str, Any]:
    out = project.invoke("workflow.status", "--json")
    assert out.code == 0, out.err
    doc: dict[str, Any] = json.loads(out.out)
    return doc


def one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


# -- 1: Invoke's --dry ----------------------------------------------------------------------


def test_invoke_dry_records_nothing_and_the_next_run_still_runs_every_step(
    realworld: Project,
) -> None:
    out = realworld.invoke("--dry", "workflow", env={"INVOKE_DRY_CMD": "1"})
    assert out.code == 0, out.err
    assert "echo linting > lint-ran.txt" in out.out  # echoed by Invoke's --dry, not run
    assert "nothing is recorded" in out.out
    assert not (realworld.root / "lint-ran.txt").exists()
    assert realworld.runs() == []
    assert not list(realworld.store.glob("*.smart.json")) if realworld.store.exists() else True
    # Nothing was recorded as done: a real run runs (and fails at) the failing step.
    out = realworld.invoke("workflow", env={"FAIL": "test"})
    assert out.code == 3
    assert status(realworld)["current_step_name"] == "test"


# -- 2: a sub-collection's config -------------------------------------------------------------


def test_subcollection_step_gets_its_collection_config(realworld: Project) -> None:
    out = realworld.invoke("workflow")
    assert out.code == 0, out.out + out.err
    assert "docs.build target=_build/html" in log(realworld)
    # The same as Invoke gives `invoke docs.build`.
    (realworld.root / "log.txt").unlink()
    assert realworld.invoke("docs.build").code == 0
    assert log(realworld) == ["docs.build target=_build/html"]


# -- 3: names ---------------------------------------------------------------------------------


def test_steps_are_named_as_invoke_lists_them(realworld: Project) -> None:
    listing = realworld.invoke("--list").out
    assert "build-docs" in listing and "docs.build" in listing
    assert realworld.invoke("workflow").code == 0
    doc = status(realworld)
    assert [s["name"] for s in doc["steps"]] == NAMES


@pytest.mark.parametrize("spelling", ["build-docs", "build_docs", "2", "docs.build"])
def test_resume_from_accepts_every_spelling(realworld: Project, spelling: str) -> None:
    assert realworld.invoke("workflow").code == 0
    (realworld.root / "log.txt").unlink()
    out = realworld.invoke("workflow", f"--resume-from={spelling}")
    assert out.code == 0, out.err
    first = "build_docs" if spelling != "docs.build" else "docs.build"
    assert log(realworld)[0].startswith(first)


TWO_BUILDS = """
    from invoke import Collection, task

    from invoke_checkpoints import workflow


    @task(name="build")
    def build_docs(c):
        print("built", c.config.where)


    @task(name="build")
    def build_www(c):
        print("built", c.config.where)


    docs, www = Collection("docs"), Collection("www")
    docs.add_task(build_docs)
    docs.configure({"where": "docs"})
    www.add_task(build_www)
    www.configure({"where": "www"})
    ns = Collection(docs, www)
    ns.add_collection(workflow(docs["build"], www["build"]{extra}))
"""


def test_same_task_in_two_collections_is_two_steps(project: Project) -> None:
    project.write(TWO_BUILDS.replace("{extra}", ""))
    assert project.invoke("--list").code == 0
    out = project.invoke("workflow")
    assert out.code == 0, out.err
    assert "[1/2] docs.build" in out.out and "[2/2] www.build" in out.out
    assert "built docs" in out.out and "built www" in out.out


def test_a_genuine_name_conflict_is_one_line_when_the_workflow_runs(project: Project) -> None:
    project.write(TWO_BUILDS.replace("{extra}", ", docs['build']"))
    listing = project.invoke("--list")
    assert listing.code == 0, listing.err  # never at import
    out = project.invoke("workflow")
    assert out.code == 2
    assert "two steps named 'docs.build'" in one_line_error(out.err)
    assert project.runs() == []


# -- 4: working directory and environment ---------------------------------------------------


def test_each_step_starts_in_the_start_directory_with_the_start_environment(
    realworld: Project,
) -> None:
    assert realworld.invoke("workflow").code == 0
    lines = log(realworld)
    assert "package cwd=dist" in lines
    assert "release cwd=root stage=-" in lines
    # A resume (a new process) behaves the same.
    (realworld.root / "log.txt").unlink()
    assert realworld.invoke("workflow", "--resume-from=release").code == 0
    assert log(realworld) == ["release cwd=root stage=-"]


# -- 5: pre/post dedupe ------------------------------------------------------------------------


def test_shared_pre_task_runs_once_per_invocation(realworld: Project) -> None:
    assert realworld.invoke("workflow", env={"FAIL": "test"}).code == 3
    assert log(realworld)[:4] == [
        "clean",
        "lint with_mypy=True",
        "unit",
        "test cwd=root threads=test",
    ]
    assert log(realworld).count("clean") == 1
    (realworld.root / "log.txt").unlink()
    # The resume is a new invocation: clean runs again, for test, the first step needing it.
    assert realworld.invoke("workflow", "--resume").code == 0
    assert log(realworld)[:3] == ["clean", "unit", "test cwd=root threads=test"]


def test_no_dedupe_runs_the_shared_pre_task_for_each_step(realworld: Project) -> None:
    assert realworld.invoke("--no-dedupe", "workflow").code == 0
    assert log(realworld).count("clean") == 2


# -- 6: smart skipping covers pre/post code ----------------------------------------------------


def test_changing_a_pre_task_reruns_the_step(realworld: Project) -> None:
    assert realworld.invoke("workflow").code == 0
    out = realworld.invoke("workflow")
    assert "[2/6] test: skipped (no_relevant_changes)" in out.out
    realworld.edit('log("unit")', 'log("unit, now with more")')
    out = realworld.invoke("workflow")
    assert "[2/6] test: completed" in out.out, out.out


# -- 7: step args -------------------------------------------------------------------------------


def test_cli_spelling_of_an_arg_is_mapped(realworld: Project) -> None:
    assert realworld.invoke("workflow").code == 0
    assert "lint with_mypy=True" in log(realworld)
    run = realworld.only_run()
    assert realworld.state(run, 0)["args"] == {"with_mypy": True}


def test_unknown_arg_is_refused_before_step_0(realworld: Project) -> None:
    realworld.edit('args={"with-mypy": True}', 'args={"strict": True}')
    assert realworld.invoke("--list").code == 0
    out = realworld.invoke("workflow")
    assert out.code == 2
    line = one_line_error(out.err)
    assert "takes no argument 'strict'" in line and "with-mypy" in line
    assert log(realworld) == [] and realworld.runs() == []


# -- 8: current_step() in threads -------------------------------------------------------------


def test_current_step_from_a_thread_pool_inside_a_step(realworld: Project) -> None:
    assert realworld.invoke("workflow").code == 0
    assert "test cwd=root threads=test" in log(realworld)


PARALLEL_THREADS = """
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from invoke import Collection, task

    from invoke_checkpoints import current_step, workflow


    def ask():
        return current_step().name


    def threads(copy):
        with ThreadPoolExecutor(2) as pool:
            if copy:
                return pool.submit(contextvars.copy_context().run, ask).result()
            return pool.submit(ask).result()


    @task
    def left(c):
        print("left sees", threads(True))


    @task
    def right(c):
        print("right sees", threads(True))


    ns = Collection(left, right)
    ns.add_collection(workflow([left, right], parallel=True))
"""


def test_current_step_in_threads_of_a_parallel_step(project: Project) -> None:
    project.write(PARALLEL_THREADS)
    out = project.run("workflow")
    assert out.code == 0, out.err
    assert "[left] left sees left" in out.out and "[right] right sees right" in out.out


# -- 9: the live line never mixes with step output ------------------------------------------


def _pty_run(project: Project, *argv: str, timeout: float = 60) -> tuple[int, str]:
    """Run the real invoke on a pseudo-terminal (the reporter's live line is drawn only there)."""
    master, slave = pty.openpty()
    env = Project.env({"TERM": "xterm"})
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [*INVOKE, *argv],
        cwd=project.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode(errors="replace")


SLOW_PRINTER = """
    import sys
    import time

    from invoke import Collection, task

    from invoke_checkpoints import workflow


    @task
    def slow(c):
        sys.stdout.write("half a line")
        sys.stdout.flush()
        time.sleep(2.5)
        print(" and the rest")
        time.sleep(1.5)
        c.run("echo from-the-shell")


    ns = Collection(slow)
    ns.add_collection(workflow(slow))
"""


def test_live_line_is_cleared_before_step_output_and_never_inside_a_line(
    project: Project,
) -> None:
    project.write(SLOW_PRINTER)
    code, text = _pty_run(project, "workflow")
    assert code == 0, text
    assert "half a line and the rest" in text  # nothing drawn inside the line
    assert "elapsed" in text  # the live line was drawn (after the line ended)
    # Every live-line draw is erased before anything else is written.
    for match in re.finditer(r"\r\x1b\[2K\[1/1\] slow: [0-9:]+ elapsed", text):
        after = text[match.end() :]
        assert after.startswith("\r\x1b[2K"), after[:40]


# -- 10: parallel output prefixed per line ------------------------------------------------------


PARTIAL_LINES = """
    import sys
    import time

    from invoke import Collection, task

    from invoke_checkpoints import workflow


    @task
    def dots(c):
        for _ in range(5):
            sys.stdout.write(".")
            sys.stdout.flush()
            time.sleep(0.05)
        sys.stdout.write(" 5 passed\\n")
        sys.stdout.write("progress 10%\\rprogress 50%\\rprogress 100%\\n")


    @task
    def other(c):
        for n in range(5):
            print("other line", n)
            time.sleep(0.05)


    ns = Collection(dots, other)
    ns.add_collection(workflow([dots, other], parallel=True))
"""


def test_parallel_partial_lines_and_carriage_returns(project: Project) -> None:
    project.write(PARTIAL_LINES)
    out = project.run("workflow")
    assert out.code == 0, out.err
    lines = out.out.splitlines()
    assert "[dots] ..... 5 passed" in lines
    assert "[dots] progress 100%" in lines
    assert "\r" not in out.out
    assert sum(line.startswith("[other] other line") for line in lines) == 5


# -- 11: Ctrl-C in a parallel group names the running steps ----------------------------------


def test_ctrl_c_in_a_group_names_the_running_steps(project: Project) -> None:
    project.use("group")
    proc = project.popen("workflow", "--parallel", env={"WAIT": "1"})
    for name in ("unit", "integration"):
        wait_for(lambda n=name: (project.root / f"{n}.pid").exists(), proc=proc)  # type: ignore[misc]
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "stopped at steps 1 (unit), 2 (integration)" in err, err


# -- 13: smaller things ---------------------------------------------------------------------


ONE_STEP = """
    import sys

    from invoke import Collection, task

    from invoke_checkpoints import workflow


    @task
    def only(c):
        print("step chatter")
        if "--fail" in sys.argv or __import__("os").environ.get("FAIL"):
            c.run("kill -INT $$")


    ns = Collection(only)
    ns.add_collection(workflow(only))
"""


def test_banner_wording_and_quiet_hides_successful_output(project: Project) -> None:
    project.write(ONE_STEP)
    out = project.invoke("workflow")
    assert "workflow (workflow_" in out.out and ": 1 step\n" in out.out
    assert "workflow workflow" not in out.out
    quiet = project.invoke("workflow", "--quiet")
    assert quiet.code == 0
    assert "step chatter" not in quiet.out


def test_quiet_shows_a_failed_steps_output_and_a_signal_death(project: Project) -> None:
    project.write(ONE_STEP)
    out = project.run("workflow", "--quiet", env={"FAIL": "1"})
    assert out.code != 0
    assert "step chatter" in out.out
    assert "killed by SIGINT" in out.out and "exit -2" not in out.out
    text = project.run("workflow.status").out
    assert "killed by SIGINT" in text


def test_unknown_run_hint_points_to_list(realworld: Project) -> None:
    assert realworld.invoke("workflow").code == 0
    out = realworld.invoke("workflow.status", "--run=workflow_20000101_000000")
    assert "invoke workflow.list" in one_line_error(out.err)


# -- 14: lint-clean recipe, typing without pydantic ------------------------------------------


def _readme_snippet() -> str:
    readme = (Path(__file__).resolve().parents[1] / "docs" / "usage.md").read_text()
    match = re.search(r"<!-- snippet: no-ns -->\n```python\n(.*?)```", readme, re.S)
    assert match is not None
    return match.group(1)


def test_readme_recipe_is_lint_clean_and_works(project: Project) -> None:
    path = project.write(_readme_snippet())
    for cmd in (
        ["check", "--isolated", "--select", "E,F,W,I"],
        ["format", "--check", "--isolated"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *cmd, str(path)],
            check=False,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    out = project.invoke("workflow", "--dry-run")
    assert out.code == 0, out.err
    assert "lint" in out.out and "test" in out.out


def test_strict_mypy_over_a_tasks_py_does_not_read_pydantic(realworld: Project) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--verbose",
            "--always-true=_never", "tasks.py",
        ],
        cwd=realworld.root,
        check=False,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert "pydantic" not in proc.stderr
    assert "invoke_checkpoints" in proc.stderr  # it did read the package


# -- 12: a changed step list keeps the unchanged completed prefix ---------------------------


def test_changed_step_list_keeps_the_unchanged_prefix(realworld: Project) -> None:
    assert realworld.invoke("workflow", env={"FAIL": "package"}).code == 3
    run = realworld.only_run()
    # A new step before package; lint, test, build-docs, docs.build are unchanged.
    realworld.edit("        package,\n", "        clean,\n        package,\n")
    plan = realworld.invoke("workflow", "--resume", "--dry-run")
    assert plan.code == 0, plan.err
    assert "the step list changed: keeping steps 0-3" in plan.out
    assert "running again: clean, package, release" in plan.out
    assert "run (the step list changed)" in plan.out
    (realworld.root / "log.txt").unlink()
    out = realworld.invoke("workflow", "--resume")
    assert out.code == 0, out.err
    assert "keeping steps 0-3" in out.out
    assert log(realworld) == ["clean", "package cwd=dist", "release cwd=root stage=-"]
    cp = realworld.checkpoint(run)
    assert cp["steps"] == [*NAMES[:4], "clean", "package", "release"]
    assert realworld.markers(run) == list(range(7))


def test_changed_step_list_reruns_from_a_changed_step(realworld: Project) -> None:
    assert realworld.invoke("workflow", env={"FAIL": "package"}).code == 3
    # test's pre task changes: test and everything after it run again.
    realworld.edit('log("unit")', 'log("unit v2")')
    realworld.edit("        package,\n", "        clean,\n        package,\n")
    (realworld.root / "log.txt").unlink()
    out = realworld.invoke("workflow", "--resume")
    assert out.code == 0, out.err
    assert "keeping step 0 (completed; name, args and code unchanged)" in out.out
    assert log(realworld)[:2] == ["clean", "unit v2"]


def test_changed_first_step_is_refused_as_before(realworld: Project) -> None:
    assert realworld.invoke("workflow", env={"FAIL": "test"}).code == 3
    realworld.edit('        Step(lint, args={"with-mypy": True}),\n', "        clean,\n")
    out = realworld.invoke("workflow", "--resume")
    assert out.code == 2
    assert "start a new run" in one_line_error(out.err)
