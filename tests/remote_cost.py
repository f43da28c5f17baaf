"""What a run costs against a bucket, in requests and wall time (docs/performance.md).

    python -m tests.remote_cost [RUNS]

Starts the loopback S3 server (``s3_server.py``), runs the crash matrix's 20-step workflow
(``tests/projects/twenty_steps``, ``--no-smart``) RUNS times (default 5) in this process, in
one prefix, after a warm-up run, and counts the requests of ``S3Backend.call`` by kind of key;
then ``status``, ``list`` and ``--resume`` of the last run.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Program

from invoke_checkpoints.store.s3 import S3Backend

from .remote_support import new_prefix, s3_server

if TYPE_CHECKING:
    from collections.abc import Callable

TASKS_PY = Path(__file__).resolve().parent / "projects" / "twenty_steps" / "tasks.py"
_KINDS = ("_state.json", ".complete", "checkpoint.json")
_counted: Counter[tuple[str, str]] = Counter()


def _counting(
    call: Callable[[S3Backend, str, str, Callable[[], Any]], Any],
) -> Callable[[S3Backend, str, str, Callable[[], Any]], Any]:
    def counted(self: S3Backend, what: str, key: str, request: Callable[[], Any]) -> Any:
        name = key.rpartition("/")[2]
        _counted[what, next((k for k in _KINDS if name.endswith(k)), "other")] += 1
        return call(self, what, key, request)

    return counted


def _invoke(*argv: str) -> tuple[float, Counter[tuple[str, str]]]:
    _counted.clear()
    begun = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            Program(name="invoke", binary="invoke", version="cost").run(["invoke", *argv])
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
    return time.monotonic() - begun, Counter(_counted)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    S3Backend.call = _counting(S3Backend.call)  # type: ignore[method-assign,assignment]  # count, then call
    with s3_server() as server, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(server.env())
        os.environ["INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        os.environ["INVOKE_CHECKPOINTS_DIR"] = f"s3://ckpt/{new_prefix()}"
        shutil.copy(TASKS_PY, Path(tmp) / "tasks.py")
        os.chdir(tmp)
        _invoke("workflow", "--no-smart")  # warm-up: imports
        walls, totals = [], []
        for _ in range(runs):
            wall, counted = _invoke("workflow", "--no-smart")
            steps = counted["write", "_state.json"] + counted["write", ".complete"]
            checkpoints = counted["write", "checkpoint.json"]
            total = sum(counted.values())
            walls.append(wall)
            totals.append(total)
            print(
                f"20-step run: {wall:.3f} s, {total} requests: {steps} state + marker PUTs, "
                f"{checkpoints} checkpoint.json PUTs, {total - steps - checkpoints} others"
            )
        print(f"median: {statistics.median(walls):.3f} s, {statistics.median(totals)} requests")
        for argv in (["workflow.status"], ["workflow.list"], ["workflow", "--resume"]):
            wall, counted = _invoke(*argv)
            print(f"{' '.join(argv)}: {wall:.3f} s, {sum(counted.values())} requests")


if __name__ == "__main__":
    main()
