"""Races between commands on one store: ``clean`` (and ``clean --all``, auto-clean, ``repair``)
never touch the run an active invocation holds, in any phase of that invocation, including
the validation of a resume before it has recorded which run it took; ``repair`` takes the
workflow's lock."""

from __future__ import annotations

import subprocess
import time

from ..conftest import Project, log_lines, wait_for
from .conftest import fail_once, one_line

#: Appended to a fixture tasks.py: with $PAUSE_IN_VALIDATION set, the resume stops in the
#: middle of validating the run it chose (before it records it in the lock) until ``go``.
PAUSE = """

if os.environ.get("PAUSE_IN_VALIDATION"):
    import time as _time
    from pathlib import Path as _Path

    import invoke_checkpoints.run.resolve as _resolve

    _check = _resolve.check_compatible

    def _paused(*args, **kwargs):
        _Path("validating").touch()
        deadline = _time.monotonic() + 60
        while not _Path("go").exists() and _time.monotonic() < deadline:
            _time.sleep(0.02)
        return _check(*args, **kwargs)

    _resolve.check_compatible = _paused
"""


def test_clean_waits_for_a_resume_still_validating_its_run(project: Project) -> None:
    """``clean --all`` started while a resume validates the run it chose: the clean waits
    until the resume has recorded its run, then keeps it; the resume completes."""
    run = fail_once(project)
    with open(project.root / "tasks.py", "a") as f:
        f.write(PAUSE)
    resume = project.popen(
        "workflow", "--resume", env={"PAUSE_IN_VALIDATION": "1"}, stdin=subprocess.DEVNULL
    )
    wait_for((project.root / "validating").exists, proc=resume)
    cleaner = project.popen("workflow.clean", "--all", stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    assert run.is_dir(), "clean removed the run a resume was validating"
    assert cleaner.poll() is None, cleaner.communicate()
    (project.root / "go").touch()
    out, err = resume.communicate(timeout=60)
    assert resume.returncode == 0, (out, err)
    out, err = cleaner.communicate(timeout=60)
    assert cleaner.returncode == 0, (out, err)
    assert log_lines(project) == ["lint", "test", "test", "docs"]


def test_clean_keeps_the_run_of_a_holder_at_every_phase(project: Project) -> None:
    """While a run executes its steps, ``clean --all`` keeps it and says so."""
    project.use("sleepy")
    assert project.invoke("workflow").code == 0
    holder = project.popen("workflow", env={"HOLD": "1"}, stdin=subprocess.DEVNULL)
    wait_for((project.root / "started").exists, proc=holder)
    active = max(project.runs())
    cleaned = project.invoke("workflow.clean", "--all")
    assert cleaned.code == 0, cleaned.err
    assert f"keeping {active.name}: it is running now" in cleaned.out
    assert project.runs() == [active]
    (project.root / "release").touch()
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, (out, err)


def test_repair_takes_the_workflow_lock(project: Project) -> None:
    """``repair`` of any run of a workflow that is running: refused with one line naming
    the active run; nothing is changed."""
    project.use("sleepy")
    assert project.invoke("workflow").code == 0
    older = project.only_run()
    holder = project.popen("workflow", env={"HOLD": "1"}, stdin=subprocess.DEVNULL)
    wait_for((project.root / "started").exists, proc=holder)
    active = max(project.runs())
    for argv in (("workflow.repair", f"--run={older.name}"), ("workflow.repair",)):
        outcome = project.invoke(*argv)
        assert outcome.code == 2, (argv, outcome)
        line = one_line(outcome)
        assert "cannot repair now" in line and active.name in line, line
        assert f"pid {holder.pid}" in line, line
    (project.root / "release").touch()
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, (out, err)
    repaired = project.invoke("workflow.repair", f"--run={older.name}")
    assert repaired.code == 0 and "nothing to repair" in repaired.out, repaired
