"""Where the time goes: cProfile of ``invoke workflow`` (N no-op steps, and 10 for the fixed
start-up, P6), ``workflow.status`` and ``invoke --list``, plus ``-X importtime`` of the
10-step ``invoke workflow``, ``workflow.status`` and ``--list``.

    python bench/hotspots.py [--steps 1000] [--top 25] [--out bench/results/profiles]

Each command runs in its own process under ``python -m cProfile`` (so imports count, as they
do for a user) after one untimed run that leaves a completed run in the store and .pyc files.
The .prof files are kept for ``python -m pstats`` or snakeviz.
"""

from __future__ import annotations

import argparse
import pstats
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # `python bench/hotspots.py`: make `import bench` work
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from bench.measure import child_env, invoke_cmd, precompile_package, run_once
from bench.projects import make_project

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
_SITE = sysconfig.get_paths()["purelib"]
_STDLIB = sysconfig.get_paths()["stdlib"]


def _where(filename: str) -> tuple[str, str]:
    """``(library, short path)`` of a profiled function's file."""
    if filename.startswith(("~", "<")):
        return "builtins", filename
    path = filename.replace("\\", "/")
    for root, lib in ((_SITE, None), (_STDLIB, "stdlib")):
        if path.startswith(root + "/"):
            rel = path[len(root) + 1 :]
            return lib or rel.split("/", 1)[0].removesuffix(".py"), rel
    if "/invoke_checkpoints/" in path:
        rel = "invoke_checkpoints/" + path.split("/invoke_checkpoints/", 1)[1]
        return "invoke_checkpoints", rel
    return "other", Path(path).name


def summarize(prof: Path, top: int) -> str:
    """Total, time by library (own time), and the top functions by own and by cumulative time."""
    stats = pstats.Stats(str(prof))
    rows = []
    by_lib: dict[str, float] = {}
    for (filename, line, func), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        lib, short = _where(filename)
        by_lib[lib] = by_lib.get(lib, 0.0) + tottime
        rows.append((tottime, cumtime, calls, f"{short}:{line}({func})"))
    total = sum(by_lib.values())
    out = [f"total {total * 1000:.0f} ms (own time, profiled)", "by library (own time):"]
    for lib, spent in sorted(by_lib.items(), key=lambda kv: -kv[1])[:10]:
        out.append(f"  {spent * 1000:8.1f} ms  {spent / total:5.1%}  {lib}")
    for title, ordered in (
        ("own", sorted(rows, key=lambda r: -r[0])),
        ("cumulative", sorted(rows, key=lambda r: -r[1])),
    ):
        out.append(f"top {top} by {title} time:   own ms    cum ms     calls  function")
        for row in ordered[:top]:
            out.append(f"  {row[0] * 1000:22.1f}  {row[1] * 1000:8.1f}  {row[2]:8d}  {row[3]}")
    return "\n".join(out)


def import_times(cwd: Path, args: list[str], top: int) -> str:
    """The slowest imports (cumulative µs) of ``invoke ARGS``, from ``-X importtime``."""
    cmd = [sys.executable, "-X", "importtime", "-m", "invoke", *args]
    done = subprocess.run(cmd, cwd=cwd, env=child_env(), capture_output=True, text=True, check=True)
    found = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m[3]) <= 5:  # top-level and second-level imports only
            found.append((int(m[2]), m[4], len(m[3]) // 2))
    lines = [f"slowest imports of `invoke {' '.join(args)}` (cumulative ms, nesting):"]
    for cumulative, name, depth in sorted(found, reverse=True)[:top]:
        lines.append(f"  {cumulative / 1000:8.1f}  {'  ' * depth}{name}")
    return "\n".join(lines)


def profile(cwd: Path, args: list[str], dest: Path, top: int) -> str:
    cmd = [sys.executable, "-m", "cProfile", "-o", str(dest), "-m", "invoke", *args]
    subprocess.run(cmd, cwd=cwd, env=child_env(), stdout=subprocess.DEVNULL, check=True)
    return f"== invoke {' '.join(args)}  ({cwd.name}; {dest})\n" + summarize(dest, top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/hotspots.py", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps of the profiled workflow")
    parser.add_argument(
        "--list-tasks", type=int, default=10, help="tasks for --list/status/the small workflow"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "profiles")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = REPO / "bench" / "results" / ".tmp"  # a dot-name: mypy's crawl skips it
    tmp.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="hotspots-", dir=tmp))
    env = child_env()
    precompile_package()  # as a wheel install would have it (see measure.precompile_package)
    try:
        big = make_project(workdir / f"wf{args.steps}", args.steps)
        small = make_project(workdir / f"wf{args.list_tasks}", args.list_tasks)
        for proj in (big, small):  # history for the ETA, a run for status, .pyc files
            run_once(invoke_cmd("workflow"), proj, env)
        reports = [
            profile(big, ["workflow"], args.out / f"workflow{args.steps}.prof", args.top),
            profile(small, ["workflow"], args.out / f"workflow{args.list_tasks}.prof", args.top),
            profile(small, ["workflow.status"], args.out / "status.prof", args.top),
            profile(small, ["--list"], args.out / "list.prof", args.top),
            profile(big, ["workflow.status"], args.out / f"status{args.steps}.prof", args.top),
            import_times(small, ["workflow"], args.top),
            import_times(small, ["--list"], args.top),
            import_times(small, ["workflow.status"], args.top),
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n\n".join(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
