"""Issue #12, process lifetime and values: orphaned step processes, SIGHUP/SIGQUIT, compound
commands, a signal during the final write, ``sys.exit(n)``, the ``vars`` race, values that
cannot be written as they are, secrets in error text, names and resume hints."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Project, lock_is_free, log_lines, one_line, read_pid, wait_for


def living(pid: int) -> bool:
    """Whether ``pid`` is a living process (a zombie not yet reaped by init is not)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return data[data.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def gone(pid: int, timeout: float = 10) -> bool:
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not living(pid), timeout=timeout)
        return True
    return False


linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

# A compound command: the shell forks the Python child (which writes its pid, then sleeps the
# first time only), so killing the shell alone leaves it running.
GRANDCHILD = (
    f'"{sys.executable}" -c "'
    "import os, time; "
    "first = not os.path.exists('grandchild.pid'); "
    "open('grandchild.pid', 'w').write(str(os.getpid()) + chr(10)); "
    'time.sleep(60 if first else 0)"; echo after >> log.txt'
)

COMPOUND = f"""
    from invoke import Collection, task
    from invoke_checkpoints import workflow

    @task
    def first(c):
        c.run("echo first >> log.txt")

    @task
    def slow(c):
        c.run("echo slow >> log.txt")
        c.run({GRANDCHILD!r})

    @task
    def last(c):
        c.run("echo last >> log.txt")

    ns = Collection()
    ns.add_collection(workflow(first, slow, last, name="my_flow"))
"""


# -- orphaned step processes ------------------------------------------------------------------


@linux_only
def test_resume_refuses_while_a_killed_runs_step_process_lives(project: Project) -> None:
    """SIGKILL the invoke process while a compound command runs: the orphaned grandchild keeps
    the step "running"; --resume refuses (exit 2, one line naming the pid) until it ends."""
    project.write(COMPOUND)
    proc = project.popen("my-flow", stdin=subprocess.DEVNULL)
    grandchild = read_pid(project.root / "grandchild.pid", proc)
    run = project.only_run("my_flow")
    state = project.state(run, 1)
    assert state["status"] == "running"
    child = state["child_pid"]
    assert isinstance(child, int)
    assert isinstance(state["child_started"], int)
    try:
        proc.kill()
        proc.communicate(timeout=30)
        assert gone(child), "the shell of the step did not die with its parent"
        assert living(grandchild)
        assert lock_is_free(project.store / "my_flow.lock")

        refused = project.run("my-flow", "--resume")
        assert refused.code == 2, refused
        line = one_line(refused)
        assert str(child) in line
        assert "still running" in line
        assert log_lines(project) == ["first", "slow"]  # the step did not start again

        doc = json.loads(project.invoke("my-flow.status", "--json").out)
        assert doc["status"] == "running"
        assert doc["resume_command"] is None
        listed = json.loads(project.invoke("my-flow.list", "--json").out)
        assert listed["runs"][0]["status"] == "running"

        os.killpg(child, signal.SIGKILL)  # what the refusal tells the user to do
        assert gone(grandchild)
        doc = json.loads(project.invoke("my-flow.status", "--json").out)
        assert doc["status"] == "interrupted"
        resumed = project.run("my-flow", "--resume")
        assert resumed.code == 0, resumed
        assert log_lines(project) == ["first", "slow", "slow", "after", "last"]
        assert project.checkpoint(run)["status"] == "completed"
        assert (
            "child_pid" not in project.state(run, 1) or project.state(run, 1)["child_pid"] is None
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(grandchild, signal.SIGKILL)


@linux_only
def test_reused_pid_is_not_mistaken_for_the_step_process(project: Project) -> None:
    """A recorded child pid now held by another process (another start time) does not block."""
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    # Make step 1 look like it was running under a killed invocation, with this test's own
    # pid (alive, but started at another time than recorded) as its child.
    (run / "step_01.complete").unlink()
    (run / "step_02.complete").unlink()
    path = run / "state" / "step_01_state.json"
    state = json.loads(path.read_text())
    state.update(status="running", child_pid=os.getpid(), child_started=1)
    path.write_text(json.dumps(state))
    cp = json.loads((run / "checkpoint.json").read_text())
    cp.update(status="running", completed_steps=[0], current_step=1, finished_at=None)
    (run / "checkpoint.json").write_text(json.dumps(cp))

    assert json.loads(project.invoke("workflow.status", "--json").out)["status"] == "interrupted"
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert project.markers(run) == [0, 1, 2]


# -- signals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signum", "code"),
    [
        pytest.param(signal.SIGTERM, 143, id="sigterm"),
        pytest.param(signal.SIGHUP, 129, id="sighup"),
        pytest.param(signal.SIGQUIT, 131, id="sigquit"),
    ],
)
def test_signal_stops_a_compound_commands_children(
    project: Project, signum: signal.Signals, code: int
) -> None:
    """SIGTERM/SIGHUP/SIGQUIT: the step's whole process group stops (the shell's own child too),
    the run is recorded interrupted, exit 128+n, and the printed hint is a working command."""
    project.write(COMPOUND)
    proc = project.popen("my-flow", stdin=subprocess.DEVNULL)
    grandchild = read_pid(project.root / "grandchild.pid", proc)
    try:
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == code, (out, err)
        assert "Traceback" not in err
        assert gone(grandchild), "the compound command's child outlived the stop"
        run = project.only_run("my_flow")
        assert project.checkpoint(run)["status"] == "interrupted"
        assert project.state(run, 1)["status"] == "interrupted"
        assert project.state(run, 1)["exit_code"] == code
        assert "resume with: invoke my-flow --resume" in err
        assert lock_is_free(project.store / "my_flow.lock")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(grandchild, signal.SIGKILL)


def test_signal_during_the_final_write_is_not_exit_0(project: Project) -> None:
    """A SIGTERM that lands while the final status is written: the run completed (every marker
    is there) and says so, but invoke exits 143, not 0."""
    project.write(
        """
        import os, signal
        from invoke import Collection, task
        from invoke_checkpoints import hookimpl, workflow

        class SignalAtFinish:
            @hookimpl
            def checkpoints_workflow_finish(self, run, status):
                os.kill(os.getpid(), signal.SIGTERM)

        @task
        def only(c):
            pass

        ns = Collection()
        ns.add_collection(workflow(only, plugins=[SignalAtFinish()]))
        """
    )
    outcome = project.run("workflow")
    assert outcome.code == 143, outcome
    assert "SIGTERM" in one_line(outcome)
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "completed"
    assert project.markers(run) == [0]


# -- sys.exit -----------------------------------------------------------------------------------


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_sys_exit_in_a_step_records_its_code(project: Project, parallel: bool) -> None:
    """sys.exit(4) fails the step with exit code 4 and stops the run; invoke exits 4.
    sys.exit(0) ends its step successfully."""
    project.write(
        """
        import sys
        from invoke import Collection, task
        from invoke_checkpoints import workflow

        @task
        def fine(c):
            open("log.txt", "a").write("fine\\n")
            sys.exit(0)

        @task
        def bad(c):
            open("log.txt", "a").write("bad\\n")
            sys.exit(4)

        @task
        def never(c):
            open("log.txt", "a").write("never\\n")

        ns = Collection()
        ns.add_collection(workflow([fine, bad], never))
        """
    )
    outcome = project.run("workflow", *(["--parallel"] if parallel else []))
    assert outcome.code == 4, outcome
    assert "Traceback" not in outcome.err
    run = project.only_run()
    assert project.state(run, 0)["status"] == "completed"
    assert project.state(run, 1)["status"] == "failed"
    assert project.state(run, 1)["exit_code"] == 4
    assert project.checkpoint(run)["status"] == "failed"
    assert project.markers(run) == [0]
    assert "never" not in log_lines(project)


# -- the vars race ------------------------------------------------------------------------------


def test_parallel_steps_writing_vars_while_others_commit(project: Project) -> None:
    """One step adds to run.vars in a tight loop while thirty others commit: no crash, and the
    vars saved are a consistent snapshot."""
    project.write(
        """
        import time
        from invoke import Collection, task
        from invoke_checkpoints import Step, current_step, workflow

        @task
        def writer(c):
            v = current_step().run.vars
            v.update((f"k{i}", i) for i in range(5000))  # a commit takes a while to save it
            deadline = time.monotonic() + 2
            i = 0
            while time.monotonic() < deadline:
                v[f"k{i % 8000}"] = [i, {"n": i}]  # new keys and removed keys: size changes
                v.pop(f"k{(i + 4000) % 8000}", None)
                items = v.setdefault("list", [])
                items.append(i)
                if len(items) > 200:
                    del items[:100]
                i += 1

        @task
        def quick(c, n=0):
            time.sleep(0.001 * n)

        quicks = [Step(quick, name=f"q{n}", args={"n": n}) for n in range(60)]
        ns = Collection()
        ns.add_collection(workflow([writer, *quicks], smart=False))
        """
    )
    outcome = project.invoke("workflow", "--parallel")
    assert outcome.code == 0, outcome.err
    assert "changed size" not in outcome.err
    run = project.only_run()
    cp = project.checkpoint(run)
    assert cp["status"] == "completed"
    assert cp["vars"]["list"]


# -- values that cannot be written ------------------------------------------------------------

VALUES = """
    import os
    from invoke import Collection, task
    from invoke_checkpoints import current_step, workflow

    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no repr")

    def deep(n):
        d = leaf = {}
        for _ in range(n):
            leaf["a"] = {}
            leaf = leaf["a"]
        return d

    NAME = os.fsdecode(b"caf\\xe9.txt")  # a lone surrogate

    @task
    def make(c):
        step = current_step()
        step.outputs.update(name=NAME, deep=deep(5000), bad=BadRepr(), big=10**5000)
        step.outputs[BadRepr()] = 1
        step.run.vars.update(name=NAME, deep=deep(5000), bad=BadRepr(), big=10**5000)
        step.warn("file " + NAME)
        return NAME

    @task
    def after(c):
        assert current_step().run.outputs_of("make")["result"]

    ns = Collection()
    ns.add_collection(workflow(make, after))
"""


def test_values_that_cannot_be_written_are_saved_safely(project: Project) -> None:
    """Lone surrogates, 5000-deep dicts, a repr that raises, 10**5000: the step still succeeds,
    each value is saved in a safe form with a warning, and the run reads back as completed."""
    project.write(VALUES)
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    run = project.only_run()
    state = project.state(run, 0)
    assert state["status"] == "completed"
    outputs = state["outputs"]
    assert outputs["name"] == repr(os.fsdecode(b"caf\xe9.txt"))
    assert outputs["deep"].startswith("<unrepresentable") or outputs["deep"].startswith("{")
    assert outputs["bad"] == "<unrepresentable BadRepr object>"
    assert outputs["big"] == "<unrepresentable int object>"
    assert isinstance(outputs["result"], str)
    assert len(state["warnings"]) >= 5
    assert "\\udce9" in " ".join(state["warnings"])
    cp = project.checkpoint(run)
    assert cp["status"] == "completed"
    assert set(cp["vars"]) == {"name", "deep", "bad", "big"}
    assert any("vars['big']" in w for w in cp["warnings"])
    # Read back by every reader: never "corrupt".
    status = project.invoke("workflow.status", "--json")
    assert status.code == 0, status.err
    assert json.loads(status.out)["status"] == "completed"
    listed = json.loads(project.invoke("workflow.list", "--json").out)
    assert listed["runs"][0]["status"] == "completed"
    assert project.invoke("workflow.repair").code == 0


def test_an_error_message_with_a_lone_surrogate_is_recorded(project: Project) -> None:
    """A step failing with an exception that names a non-UTF-8 file: recorded failed, exit 1."""
    project.write(
        """
        import os
        from invoke import Collection, task
        from invoke_checkpoints import workflow

        @task
        def broken(c):
            raise FileNotFoundError(os.fsdecode(b"/data/caf\\xe9"))

        ns = Collection()
        ns.add_collection(workflow(broken))
        """
    )
    outcome = project.run("workflow")
    assert outcome.code == 1, outcome
    run = project.only_run()
    assert project.checkpoint(run)["status"] == "failed"
    state = project.state(run, 0)
    assert state["status"] == "failed"
    assert "caf\\udce9" in state["errors"][0]
    assert project.invoke("workflow.status").code == 0


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("os.fsdecode(b'\\xff')", id="lone-surrogate"),
        pytest.param("10**5000", id="huge-int"),
        pytest.param("float('nan')", id="nan"),
        pytest.param("deep(5000)", id="deep"),
        pytest.param("object()", id="object"),
    ],
)
def test_step_args_that_cannot_be_saved_are_refused_at_definition(value: str) -> None:
    """Step(args=...) refuses such a value at once, in one line naming the step and the arg."""
    from invoke import task

    from invoke_checkpoints import Step

    @task
    def t(c: object, x: object = None) -> None:
        pass

    def deep(n: int) -> dict[str, object]:
        d: dict[str, object] = {}
        leaf = d
        for _ in range(n):
            leaf["a"] = {}
            leaf = leaf["a"]  # type: ignore[assignment]
        return d

    arg = eval(value, {"os": os, "deep": deep})
    with pytest.raises(TypeError) as info:
        Step(t, args={"x": arg})
    message = str(info.value)
    assert "\n" not in message
    assert "Step 't': args['x']" in message


# -- secrets ------------------------------------------------------------------------------------


def test_secrets_in_a_failing_commands_error_text_are_redacted(project: Project) -> None:
    """Authorization headers, URL passwords and --password=/token= pairs: *** in the state
    file, in status and in status --json."""
    project.write(
        """
        from invoke import Collection, task
        from invoke_checkpoints import workflow

        @task
        def push(c):
            c.run(
                "echo 'Authorization: Bearer s3cr3tbearer' >&2; "
                "echo 'fatal: https://bob:hunter2pw@git.example.com/x.git' >&2; "
                "echo 'mysql --password=pw1secret token=tok2secret' >&2; exit 3",
                hide=True,
            )

        ns = Collection()
        ns.add_collection(workflow(push))
        """
    )
    outcome = project.invoke("workflow")
    assert outcome.code == 3
    run = project.only_run()
    error = project.state(run, 0)["errors"][0]
    shown = project.invoke("workflow.status").out + project.invoke("workflow.status", "--json").out
    for secret in ("s3cr3tbearer", "hunter2pw", "pw1secret", "tok2secret"):
        assert secret not in error
        assert secret not in shown
    assert "Authorization: ***" in error
    assert "https://bob:***@git.example.com" in error
    assert "--password=***" in error
    assert "token=***" in error


# -- names and hints ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\u2028b", "a\u2029b", "a\x85b", " a", "a\tb"])
def test_step_names_with_control_characters_are_refused(bad: str) -> None:
    from invoke import task

    from invoke_checkpoints import Step, workflow

    @task
    def t(c: object) -> None:
        pass

    with pytest.raises((ValueError, TypeError)) as info:
        workflow(Step(t, name=bad))
    assert "\n" not in str(info.value)
    assert "step name" in str(info.value)


@pytest.mark.parametrize("bad", ["flow\n", "flow\r", "flow\u2028"])
def test_workflow_names_with_control_characters_are_refused(bad: str) -> None:
    from invoke import task

    from invoke_checkpoints import workflow

    @task
    def t(c: object) -> None:
        pass

    with pytest.raises(ValueError) as info:
        workflow(t, name=bad)
    assert "\n" not in str(info.value)


def test_every_resume_hint_for_my_flow_is_a_working_command(project: Project) -> None:
    """A workflow my_flow is the task my-flow: the failure summary, status and status --json
    print `invoke my-flow --resume=ID`, and that command resumes the run."""
    project.write(
        """
        import os
        from invoke import Collection, task
        from invoke_checkpoints import workflow

        @task
        def flaky(c):
            c.run("test -e ok")

        ns = Collection()
        ns.add_collection(workflow(flaky, name="my_flow"))
        """
    )
    failed = project.invoke("my-flow")
    assert failed.code == 1
    run = project.only_run("my_flow")
    hint = f"invoke my-flow --resume={run.name}"
    assert f"resume with: {hint}" in failed.out
    assert json.loads(project.invoke("my-flow.status", "--json").out)["resume_command"] == hint
    (project.root / "ok").touch()
    resumed = project.run(*hint.split()[1:])
    assert resumed.code == 0, resumed
    assert project.checkpoint(run)["status"] == "completed"


def test_empty_resume_from_is_refused(project: Project) -> None:
    project.use("three_steps")
    assert project.invoke("workflow").code == 0
    before = project.snapshot()
    outcome = project.invoke("workflow", "--resume-from=")
    assert outcome.code == 2
    assert "empty step" in one_line(outcome)
    assert {k: v for k, v in project.snapshot().items() if ".lock" not in k} == {
        k: v for k, v in before.items() if ".lock" not in k
    }
