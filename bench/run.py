"""Benchmark harness: ``python bench/run.py [--smoke] [--only P6,P7,M1] [--out FILE]`` (or
``invoke bench``).

Every figure comes from one run on one disk: whole ``invoke`` processes timed with
``time.perf_counter`` around the process (and their own peak RSS from ``os.wait4``), repeated in
interleaved rounds (other processes share this machine); each figure is the median over rounds
of a per-round difference or ratio (bench/figures.py), and ratios are preferred to absolute
times. Definitions and targets: bench/README.md.

P1   checkpoint overhead per step: marginal ms per step of ``invoke workflow`` (N=10 vs 300
     no-op steps) minus marginal ms per task of plain ``invoke t0 ... tN`` (same N), divided by
     one raw durable write (write, fsync, rename, fsync dir of a 200-byte file). P1_nofsync:
     the same with ``checkpoints.fsync: false``.
P1b  marginal ms per step of ``invoke workflow`` with fsync off / plain invoke per task, both
     over 10 -> 300 (P1b_fsync: with fsync on).
P2a  ``invoke --list`` with ``workflow(...)`` in tasks.py / without.
P2b  ``invoke workflow.status`` / ``invoke --list``.
P3   ``invoke workflow --resume`` (latest run completed) with 10,000 runs in the store minus
     with one run, in ms.
P4   mean per-step overhead of a 5,000-step workflow / of a 50-step one (see bench/README.md).
P5   wall time of one parallel group of 8 steps sleeping 1 s each (``--parallel``): the
     process minus the same process running a one-step workflow; null (and "n/a") when this
     invoke-checkpoints has no parallel groups.
M1   peak RSS of ``invoke workflow`` of 10,000 no-op steps / of ``invoke --list`` of the same
     tasks.py.
P6   fixed start-up: ``invoke workflow`` of 10 no-op steps minus plain ``invoke t0 ... t9``, ms
     (P6_nofsync: with fsync off).
P7   ``invoke workflow --resume`` of a 300-step run that failed at step 150 / plain
     ``invoke t0 ... t299`` (P7_nofsync: with fsync off). P7_floor: the same ratio for the
     least any implementation of the format can do there (each task called, its state file
     and its durable marker written, nothing else: bench/projects.py); P7_floor_nofsync:
     without the fsyncs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):  # `python bench/run.py`: make `import bench` work
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from bench.figures import FULL, NOFSYNC, SMOKE, Params, compute, needs
from bench.measure import (
    Case,
    child_env,
    invoke_cmd,
    precompile_package,
    raw_durable_write_ms,
    run_cases,
    run_measured,
    run_once,
    settle_disk,
)
from bench.others import measure_others
from bench.projects import (
    FAIL_UNLESS,
    clone_runs,
    fresh_floor,
    make_project,
    only_run,
    parallel_source,
    parallel_supported,
    restore_run,
    task_names,
)
from bench.report import TARGETS, render_table

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["FIGURES", "FULL", "SMOKE", "Params", "main", "measure"]

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "latest.json"
#: Generated projects go here by default: on the repo's disk, git-ignored, and a dot-name so
#: that mypy's directory crawl (``files = [..., "bench"]``) skips their tasks.py files.
WORK_ROOT = REPO / "bench" / "results" / ".tmp"
#: Runs removed between repetitions go here, and are deleted with the workdir at the end.
TRASH = ".trash"
#: Every figure, in the order of the table.
FIGURES = tuple(needs(FULL))
#: ``--only`` name of the doit/pytask comparison.
OTHERS = "others"


def _progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _workflow_cases(root: Path, p: Params, want: set[str]) -> tuple[list[Case], list[Case]]:
    """``invoke workflow`` at each size (fsync on and off) and plain ``invoke t0 .. tN``, the
    ones in ``want``: those at the two small sizes, and the others. The sizes of each kind run
    next to each other (their per-round difference is what counts)."""
    trash = root / TRASH

    def wf(n: int, suffix: str, reps: int) -> Case:
        proj = make_project(root / f"wf{n}{suffix}", n, fsync=suffix == "")
        store = proj / ".checkpoints"
        return Case(f"wf{n}{suffix}", invoke_cmd("workflow"), proj, reps, p.warmups, store, trash)

    def plain(n: int, reps: int) -> Case:
        proj = make_project(root / f"wf{n}", n)
        return Case(f"plain{n}", invoke_cmd(*task_names(n)), proj, reps, p.warmups)

    small = (p.n_small, p.p4_low)
    specs: list[tuple[str, Callable[[], Case]]] = []
    for suffix in ("", NOFSYNC):
        specs += [(f"wf{n}{suffix}", partial(wf, n, suffix, p.small_reps)) for n in small]
    specs += [(f"plain{n}", partial(plain, n, p.small_reps)) for n in small]
    quick = [make() for key, make in specs if key in want]
    specs = [(f"wf{p.n_big}{s}", partial(wf, p.n_big, s, p.cheap_reps)) for s in ("", NOFSYNC)]
    specs.append((f"plain{p.n_big}", partial(plain, p.n_big, p.cheap_reps)))
    # Plain invoke is quadratic in the number of tasks named on its command line
    # (Executor.dedupe), so it is not run at p4_high: a minute per run, measuring Invoke.
    specs += [(f"wf{p.p4_high}{s}", partial(wf, p.p4_high, s, p.big_reps)) for s in ("", NOFSYNC)]
    return quick, [make() for key, make in specs if key in want]


def _listing_cases(root: Path, p: Params, env: dict[str, str], want: set[str]) -> list[Case]:
    """--list with and without the plugin, and status (P2a, P2b)."""
    if not want & {"list_plain", "list_plugin", "status"}:
        return []
    plain = make_project(root / "list_plain", p.list_tasks, plugin=False)
    with_plugin = make_project(root / "list_plugin", p.list_tasks)
    run_once(invoke_cmd("workflow"), with_plugin, env)  # status shows this completed run
    # Sub-second commands whose ratio is a target with a margin of a few percent (P2a): as many
    # rounds as the 10- and 50-step cases (bootstrap of round 5: 0.02-0.03 standard error of the
    # median ratio at 21 rounds, ~0.01 at 61).
    r, w = p.small_reps, p.warmups
    cases = [
        Case("list_plain", invoke_cmd("--list"), plain, r, w),
        Case("list_plugin", invoke_cmd("--list"), with_plugin, r, w),
        Case("status", invoke_cmd("workflow.status"), with_plugin, r, w),
    ]
    return [case for case in cases if case.key in want]


def _resume_store_cases(root: Path, p: Params, env: dict[str, str], want: set[str]) -> list[Case]:
    """P3: ``--resume`` (latest run completed) with 1 run in the store vs p3_runs more."""
    if not want & {"resume_one", "resume_many"}:
        return []
    one = make_project(root / "resume_one", p.p3_steps)
    many = make_project(root / "resume_many", p.p3_steps)
    for proj in (one, many):
        run_once(invoke_cmd("workflow"), proj, env)
    _progress(f"cloning {p.p3_runs:,} runs for P3")
    clone_runs(only_run(many / ".checkpoints"), p.p3_runs)
    return [
        Case("resume_one", invoke_cmd("workflow", "--resume"), one, p.p3_reps, p.warmups),
        Case("resume_many", invoke_cmd("workflow", "--resume"), many, p.p3_reps, p.warmups),
    ]


def _failed_run(proj: Path, p: Params, env: dict[str, str], templates: Path) -> Path:
    """Run the workflow of ``proj`` once (untimed): it fails at step p7_fail; a copy of that
    failed run, kept aside as the template every timed ``--resume`` starts from."""
    run_measured(invoke_cmd("workflow"), proj, env, expect_failure=True)
    run = only_run(proj / ".checkpoints")
    done = len(list(run.glob("step_*.complete")))
    if done != p.p7_fail:
        raise RuntimeError(f"P7: the failed run {run} has {done} markers, not {p.p7_fail}")
    template = templates / proj.name / run.name
    shutil.copytree(run, template)
    return template


def _p7_cases(root: Path, p: Params, env: dict[str, str], want: set[str]) -> list[Case]:
    """P7: ``invoke workflow --resume`` of a p7_steps-step run that failed at step p7_fail
    (a fresh copy of the failed run before every run of it; fsync on and off) and plain
    ``invoke t0 ... tN`` re-running every task of the same tasks.py."""
    cases = []
    for suffix in ("", NOFSYNC):
        key = f"p7_resume{suffix}"
        if key not in want and not (suffix == "" and "p7_plain" in want):
            continue
        proj = make_project(root / f"p7{suffix}", p.p7_steps, fsync=suffix == "", fail_at=p.p7_fail)
        (proj / FAIL_UNLESS).unlink(missing_ok=True)
        template = _failed_run(proj, p, env, root / "p7_templates") if key in want else None
        (proj / FAIL_UNLESS).touch()  # from now on the failed step succeeds
        if template is not None:
            restore = partial(restore_run, template, proj / ".checkpoints", root / TRASH)
            resume = invoke_cmd("workflow", "--resume")
            cases.append(Case(key, resume, proj, p.p7_reps, p.warmups, prepare=restore))
    if "p7_plain" in want:
        plain = invoke_cmd(*task_names(p.p7_steps))
        cases.append(Case("p7_plain", plain, root / "p7", p.p7_reps, p.warmups))
    if want & {"p7_floor", f"p7_floor{NOFSYNC}"}:
        # Same tasks.py plus the `floor` task: the least a resume of the same steps can do.
        floor = make_project(root / "p7_floor", p.p7_steps, fail_at=p.p7_fail, floor_from=p.p7_fail)
        (floor / FAIL_UNLESS).touch()
        fresh = partial(fresh_floor, floor, root / TRASH)
        for suffix, args in (("", ()), (NOFSYNC, ("--no-sync",))):
            if f"p7_floor{suffix}" in want:
                cmd = invoke_cmd("floor", *args)
                cases.append(
                    Case(f"p7_floor{suffix}", cmd, floor, p.p7_reps, p.warmups, prepare=fresh)
                )
    return cases


def _m1_cases(root: Path, p: Params, want: set[str]) -> list[Case]:
    """M1: ``invoke workflow`` of m1_steps steps and ``invoke --list`` of the same tasks.py,
    for their peak RSS (their wall times are recorded too)."""
    if not want & {"m1_workflow", "m1_list"}:
        return []
    proj = make_project(root / "m1", p.m1_steps)
    store = proj / ".checkpoints"
    cases = [
        Case("m1_list", invoke_cmd("--list"), proj, p.m1_reps, p.warmups),
        Case(
            "m1_workflow", invoke_cmd("workflow"), proj, p.m1_reps, p.warmups, store, root / TRASH
        ),
    ]
    return [case for case in cases if case.key in want]


def _parallel_cases(root: Path, p: Params, want: set[str]) -> list[Case]:
    """P5: ``invoke workflow --parallel`` (one group) and ``invoke baseline`` (one no-op step)
    from the same tasks.py; none when this invoke-checkpoints has no parallel groups."""
    if not want & {"p5_group", "p5_baseline"} or not parallel_supported():
        return []
    proj = root / "parallel"
    proj.mkdir(parents=True, exist_ok=True)
    (proj / "tasks.py").write_text(parallel_source(p.p5_steps, p.p5_sleep))
    store = proj / ".checkpoints"
    return [
        Case("p5_baseline", invoke_cmd("baseline"), proj, p.reps, p.warmups, store, root / TRASH),
        Case(
            "p5_group",
            invoke_cmd("workflow", "--parallel"),
            proj,
            p.reps,
            p.warmups,
            store,
            root / TRASH,
        ),
    ]


def _machine(workdir: Path) -> dict[str, Any]:
    import invoke

    def out(*cmd: str) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
        except OSError:
            return ""
        return done.stdout.strip()

    import invoke_checkpoints

    package = Path(invoke_checkpoints.__file__).resolve().parent
    return {
        "package": str(package),
        "package_dirty_in_repo": bool(out("git", "status", "--porcelain", "invoke_checkpoints")),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "invoke": invoke.__version__,
        "df": out("df", "-hT", str(workdir)),
        "loadavg": list(os.getloadavg()),
        "commit": out("git", "rev-parse", "--short", "HEAD"),
    }


def _latest_ms(store: Path, reps: int = 31) -> float:
    """In-process cost of finding the latest run in the P3 store (no process noise)."""
    from invoke_checkpoints.store.runs import Store

    found = Store(store)
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        found.latest("workflow")
        samples.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(samples)


def measure(
    p: Params,
    workdir: Path,
    *,
    selected: Sequence[str] = FIGURES,
    others: bool = True,
    precompile: bool = True,
) -> dict[str, Any]:
    """Run the measurements of the ``selected`` figures in ``workdir`` (same disk as the repo);
    the JSON document (figures not selected are ``null``)."""
    env = child_env()
    machine = _machine(workdir)
    if precompile:
        machine["precompiled"] = precompile_package()
    table = needs(p)
    want = {key for figure in selected for key in table[figure]}
    half = max(p.raw_writes // 2, 1)
    settled: list[float] = []

    def settle() -> None:
        settled.append(settle_disk(workdir))

    _progress("waiting for the disk to settle")
    settle()
    _progress("raw durable writes (1/2)")
    raw = raw_durable_write_ms(workdir / "raw", half)
    _progress("setting up projects")
    quick, slow = _workflow_cases(workdir, p, want)
    # Each round: sub-second cases first, then those of a few seconds, then the long ones.
    cases = [
        *quick,
        *_listing_cases(workdir, p, env, want),
        *_resume_store_cases(workdir, p, env, want),
        *_p7_cases(workdir, p, env, want),
        *_parallel_cases(workdir, p, want),
        *slow,
        *_m1_cases(workdir, p, want),
    ]
    _progress(f"timing {len(cases)} commands, interleaved")
    timed = run_cases(cases, env, _progress, settle if p.settle else None)
    _progress("raw durable writes (2/2)")
    raw += raw_durable_write_ms(workdir / "raw", half)
    raw_ms = statistics.median(raw)
    doc: dict[str, Any] = {"mode": "", "created_at": datetime.now(timezone.utc).isoformat()}
    doc["selected"] = list(selected)
    doc["raw_write_ms"] = raw_ms
    doc.update(compute(timed, raw_ms, p, selected))
    doc["details"]["raw_write_ms_batches"] = [
        statistics.median(raw[:half]),
        statistics.median(raw[half:]),
    ]
    doc["details"]["settle_seconds"] = {"total": sum(settled), "first": settled[0]}
    if "resume_many" in timed:
        doc["details"]["P3_latest_ms"] = _latest_ms(workdir / "resume_many" / ".checkpoints")
    doc["others"] = (
        measure_others(workdir / "others", p.n_small, p.n_big, p.reps, env, _progress, p.warmups)
        if others
        else {}
    )
    machine["loadavg_end"] = list(os.getloadavg())
    doc["targets"] = TARGETS
    doc["machine"] = machine
    doc["params"] = asdict(p)
    return doc


def _figures(text: str) -> list[str]:
    """``--only`` names: a figure, or a family (``P4``: P4 and P4_nofsync), in table order;
    ``others`` (doit/pytask) may be among them."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in (*FIGURES, OTHERS)]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown figure {', '.join(unknown) or '(none)'}; "
            f"one of {', '.join(FIGURES)} or {OTHERS}"
        )
    chosen = [f for f in FIGURES if any(f == n or f.startswith(f"{n}_") for n in names)]
    return [*chosen, OTHERS] if OTHERS in names else chosen


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 repetition")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results file")
    parser.add_argument("--reps", type=int, help="repetitions of multi-second commands")
    parser.add_argument("--workdir", type=Path, help="where generated projects go (same disk)")
    parser.add_argument("--keep-workdir", action="store_true", help="do not delete it")
    parser.add_argument(
        "--only",
        type=_figures,
        metavar="FIGURES",
        help="measure only these comma-separated figures, e.g. P6,P7,M1 (a name takes its "
        f"variants: P7 is P7 and P7_nofsync); doit/pytask only if {OTHERS!r} is named too",
    )
    parser.add_argument("--no-others", action="store_true", help="skip doit/pytask")
    parser.add_argument(
        "--no-precompile",
        action="store_true",
        help="do not byte-compile invoke_checkpoints first (as an editable checkout runs)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    p = SMOKE if args.smoke else FULL
    if args.reps is not None:
        p = replace(
            p,
            reps=args.reps,
            cheap_reps=3 * args.reps,
            small_reps=5 * args.reps,
            big_reps=max(1, args.reps // 2),
            m1_reps=max(1, args.reps // 2),
            p7_reps=3 * args.reps,
        )
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="bench-", dir=args.workdir))
    else:
        WORK_ROOT.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="run-", dir=WORK_ROOT))
    try:
        doc = measure(
            p,
            workdir,
            selected=[f for f in args.only if f != OTHERS] if args.only else FIGURES,
            others=not args.no_others and (args.only is None or OTHERS in args.only),
            precompile=not args.no_precompile,
        )
    except RuntimeError as exc:
        print(f"bench: a timed command failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    doc["mode"] = "smoke" if args.smoke else "full"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(render_table(doc))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
