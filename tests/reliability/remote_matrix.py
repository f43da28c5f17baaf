"""The crash matrix against a bucket: two "machines" share one S3 prefix (moto, 127.0.0.1).

The harness's checks (``harness.py``) and workflow (``tests/projects/twenty_steps``), with a
store in object storage. A round kills invocations of the workflow with SIGKILL, alternating
machines: each is a project directory with its own HOME and caches, and both append to one
side-effect log (``$EFFECTS_LOG``), so that a step run again on the other machine is seen.
A kill is made right after a chosen write reaches the bucket, through the test-only
``INVOKE_CHECKPOINTS_FAULT=put:<n>[:<suffix>]`` of ``store/s3.py`` (the n-th PUT, of a key
ending with the suffix), or by a timer. The next invocation, on the other machine, first waits
for the dead holder's lease (1 s here) to lapse, then takes over and resumes. After every
invocation:

* the bucket (copied to a local directory) passes ``harness.check_store``: every object
  parses, markers are a prefix, each has its completed state, checkpoint.json is at most one
  step ahead and lags by at most the remote store's checkpoint interval;
* the side-effect log passes ``Round.check_log``: no step with a marker began again, at most
  one step (the one in flight) re-ran per kill;
* after a kill, ``status --json`` on the other machine shows the markers' truth: the steps
  with a marker completed, no other;
* the invocation that completes leaves the run completed with its 20 markers.
"""

from __future__ import annotations

import json
import random
import shutil
import time
import uuid
from typing import TYPE_CHECKING

from ..remote_support import BUCKET, Bucket
from . import harness

if TYPE_CHECKING:
    from pathlib import Path

    from ..remote_support import S3Server

__all__ = ["KILL_POINTS", "RemoteRound", "calibrate", "new_figures", "timed"]

#: The lease of the killed holders: the next invocation waits this long before taking over.
LEASE_SECONDS = 1
#: checkpoint.json may lag the markers by the remote store's interval (2 s), plus slack.
LAG_SECONDS = 3.0

#: Kill points, each right after one write reached the bucket (``put:<n>[:<key suffix>]``),
#: numbered within the invocation. The short form (CI) kills a fresh run at each of them,
#: then resumes it on the other machine.
KILL_POINTS: dict[str, str] = {
    "put:1": "after the startup probe's first write (a stray probe key is left)",
    "put:1:.lock": "after taking the lease, before any run exists",
    "put:1:.latest": "after the latest-run pointer, before its run exists",
    "put:1:/checkpoint.json": "after the run's first, create-only checkpoint.json",
    "put:2:/checkpoint.json": "after checkpoint.json says running",
    "put:1:_state.json": "after step 0's final state, before its marker",
    "put:1:.complete": "after step 0's marker (the commit point)",
    "put:10:_state.json": "mid-run, after step 9's final state",
    "put:10:.complete": "mid-run, after step 9's marker",
    "put:20:.complete": "after the last marker, before the final checkpoint.json",
    "put:3:/checkpoint.json": "after the final checkpoint.json, before the lease's release",
}


class Machine:
    """A project directory with its own HOME and caches, whose store is the shared prefix."""

    def __init__(self, root: Path, server: S3Server, url: str, log: Path) -> None:
        self.root = root
        home = root / "home"
        (home / ".cache").mkdir(parents=True)
        shutil.copy(harness.TASKS_PY, root / "tasks.py")
        self.env = {
            **server.env(),
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "INVOKE_CHECKPOINTS_DIR": url,
            "INVOKE_CHECKPOINTS_LEASE_SECONDS": str(LEASE_SECONDS),
            "EFFECTS_LOG": str(log),
        }


class RemoteRound(harness.Round):
    """One run of the workflow in a fresh prefix, killed on one machine and resumed on the
    other until it completes."""

    def __init__(
        self, workdir: Path, server: S3Server, rng: random.Random, figures: harness.Figures
    ) -> None:
        workdir.mkdir(parents=True)
        super().__init__(workdir, rng, figures, figures.calibration)
        prefix = f"m-{uuid.uuid4().hex[:12]}/checkpoints"
        self.bucket = Bucket(server, prefix)
        url = f"s3://{BUCKET}/{prefix}"
        log = workdir / "effects.log"
        self.machines = [Machine(workdir / m, server, url, log) for m in ("a", "b")]
        self.mirror = workdir / "mirror" / ".checkpoints"

    def check_bucket(self) -> tuple[harness.RunView | None, list[str]]:
        """Copy the prefix to a local directory (modes as a local store's) and check it."""
        shutil.rmtree(self.mirror.parent, ignore_errors=True)
        names = self.bucket.names()
        problems: list[str] = []
        if names:
            self.mirror.mkdir(parents=True, mode=0o700)
        for key in names:
            if key.startswith(".probe-") and "/" not in key:
                self.figures.temp_files_seen += 1  # a probe key a kill left: harmless
                continue
            path = self.mirror / key
            for folder in reversed(path.relative_to(self.mirror).parents[:-1]):
                (self.mirror / folder).mkdir(mode=0o700, exist_ok=True)
            path.write_bytes(self.bucket.read(key))
            path.chmod(0o600)
            if "/" in key:  # a run's prefix: its state/ exists once a key is under it
                (self.mirror / key.split("/")[0] / "state").mkdir(mode=0o700, exist_ok=True)
            if key == "workflow.lock":
                problems += _check_lease(key, path.read_bytes())
        view, found = harness.check_store(self.mirror, self.figures)
        return view, problems + found

    def status_truth(self, machine: Machine, view: harness.RunView | None) -> list[str]:
        """``status --json`` on ``machine`` agrees with the markers in the bucket."""
        code, _, out, err, _ = harness.invoke(
            machine.root, ["workflow.status", "--json"], harness.Plan(), machine.env
        )
        if code != 0:
            return [f"status exited {code}: {err.strip()[-1000:]}"]
        doc = json.loads(out)
        markers = view.markers if view is not None else set()
        if view is None:
            return [] if doc.get("run_id") is None else [f"status shows a run: {doc['run_id']}"]
        shown = {step["number"] for step in doc["steps"] if step["status"] == "completed"}
        if shown != markers or doc["completed"] != len(markers):
            return [f"status shows completed {sorted(shown)}, markers are {sorted(markers)}"]
        return []

    def play_plans(self, plans: list[harness.Plan]) -> bool:
        """Invoke with ``plans`` (then without kills) until the run completes; False on a
        violation."""
        self.figures.rounds += 1
        before, problems = self.check_bucket()
        for number in range(harness.MAX_INVOCATIONS):
            machine = self.machines[number % 2]
            if problems:
                return self.fail("before an invocation", problems)
            marked = set(before.markers) if before else set()
            plan = plans[number] if number < len(plans) else harness.Plan()
            argv = ["workflow", "--resume"] if before else ["workflow"]
            code, pid, out, err, timed_out = harness.invoke(machine.root, argv, plan, machine.env)
            self.figures.invocations += 1
            after, problems = self.check_bucket()
            problems += self.check_log(pid, marked, after)
            if code not in (0, harness.KILLED):
                problems.append(f"`invoke {' '.join(argv)}` exited {code}: {err.strip()[-2000:]}")
            if code == harness.KILLED and not problems:
                problems += self.status_truth(self.machines[(number + 1) % 2], after)
            if problems:
                return self.fail(f"after `invoke {' '.join(argv)}` ({plan.fault})", problems)
            if code == harness.KILLED:
                self.figures.kills += 1
                self.figures.kills_by["timed" if timed_out else plan.kind] += 1
                before = after  # nothing changes the bucket between two invocations
                continue
            if plan.kind != "none":
                self.figures.survived += 1
                self.figures.survived_by[plan.kind] += 1
            return self.check_completed(after, out)
        return self.fail("livelock", [f"no completion in {harness.MAX_INVOCATIONS} invocations"])

    def check_completed(self, run: harness.RunView | None, out: str) -> bool:
        problems = []
        if run is None or run.checkpoint is None:
            problems.append("exit 0 but no run")
        else:
            cp = run.checkpoint
            if cp.status.value != "completed" or cp.current_step is not None:
                problems.append(f"final status {cp.status.value}, current step {cp.current_step}")
            if run.markers != set(range(harness.STEPS)) or cp.completed_steps != list(
                range(harness.STEPS)
            ):
                problems.append(f"markers {sorted(run.markers)}, recorded {cp.completed_steps}")
        if set(self.began) != set(range(harness.STEPS)):
            never = sorted(set(range(harness.STEPS)) - set(self.began))
            problems.append(f"steps that never ran: {never}")
        if "completed" not in out:
            problems.append(f"output does not say completed: {out[-500:]}")
        return self.fail("after the run completed", problems) if problems else True


def _check_lease(key: str, data: bytes) -> list[str]:
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("pid"), int) or "token" not in doc:
        return [f"{key}: the lease does not parse: {data[:80]!r}"]
    return []


def timed(rng: random.Random, figures: harness.Figures) -> harness.Plan:
    """A SIGKILL at a random instant of a resume (after its wait for the dead lease)."""
    timing = figures.calibration
    body = max(timing["full_run_seconds"] - timing["startup_seconds"], 0.05)
    return harness.Plan(delay=timing["startup_seconds"] + LEASE_SECONDS + body * rng.random())


def calibrate(workdir: Path, server: S3Server) -> dict[str, float]:
    """Wall time of a whole run and of an invocation with nothing to do, against the bucket."""
    round_ = RemoteRound(workdir, server, random.Random(0), harness.Figures(0, 0))
    machine = round_.machines[0]
    start = time.monotonic()
    code, _, _, err, _ = harness.invoke(machine.root, ["workflow"], harness.Plan(), machine.env)
    full = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"calibration run failed ({code}): {err}")
    start = time.monotonic()
    harness.invoke(machine.root, ["workflow", "--resume"], harness.Plan(), machine.env)
    noop = time.monotonic() - start
    shutil.rmtree(workdir)
    return {"full_run_seconds": round(full, 3), "startup_seconds": round(noop, 3)}


def new_figures(seed: int, target: int) -> harness.Figures:
    figures = harness.Figures(seed=seed, target=target)
    figures.lag_seconds = LAG_SECONDS
    return figures
