"""The benchmark harness runs end to end (``--smoke``) and writes every figure's key;
``--only`` measures a chosen few; the P7 case resumes a real failed run every time.

Correctness of the harness only: tiny sizes, one repetition, no assertion on any timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.measure import child_env, invoke_cmd, run_measured
from bench.projects import FAIL_UNLESS, make_project, only_run, restore_run

RUN = Path(__file__).resolve().parent.parent / "bench" / "run.py"

HEADLINE = (
    "P1",
    "P1_nofsync",
    "P1b",
    "P1b_fsync",
    "P2a",
    "P2b",
    "P3",
    "P4",
    "P4_nofsync",
    "M1",
    "P6",
    "P6_nofsync",
    "P7",
    "P7_nofsync",
    "P7_floor",
    "P7_floor_nofsync",
)
KEYS = (*HEADLINE, "P5", "raw_write_ms", "details", "others", "targets", "machine", "params")


def _bench(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "x.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--out", str(out), "--workdir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=150,
        check=False,
    )
    return proc, out


@pytest.mark.slow
def test_smoke_run_writes_every_key(tmp_path: Path) -> None:
    proc, out = _bench(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["mode"] == "smoke"
    missing = [key for key in KEYS if key not in doc]
    assert not missing, missing
    for key in (*HEADLINE, "raw_write_ms"):
        assert isinstance(doc[key], float), (key, doc[key])
    # P5 is measured where parallel groups exist; otherwise the slot stays, null, and says so.
    if doc["P5"] is None:
        assert "n/a (parallel groups not implemented)" in proc.stdout
    else:
        assert isinstance(doc["P5"], float)
    for key in (*HEADLINE, "P5"):
        assert f"\n{key} " in proc.stdout, key
    assert list(doc["targets"]) == doc["selected"]
    assert set(doc["targets"]) == {*HEADLINE, "P5"}
    # M1 is a ratio of peak RSS, taken from each process itself (a few MiB at least).
    assert doc["details"]["M1_workflow_peak_rss_mib"] > 5
    assert doc["details"]["M1_list_peak_rss_mib"] > 5
    assert set(doc["others"]) == {"doit", "pytask"}
    # The generated projects are cleaned up; only the JSON remains.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


@pytest.mark.slow
def test_only_measures_the_figures_named(tmp_path: Path) -> None:
    proc, out = _bench(tmp_path, "--only", "P6,P7")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    chosen = ["P6", "P6_nofsync", "P7", "P7_nofsync", "P7_floor", "P7_floor_nofsync"]
    assert doc["selected"] == chosen
    for key in HEADLINE:
        assert isinstance(doc[key], float) if key in chosen else doc[key] is None, key
    assert doc["P5"] is None
    assert doc["details"]["P5_status"] == "not measured"
    assert set(doc["details"]["median_seconds"]) == {"wf2", "wf2_nofsync", "plain2"} | {
        "p7_resume",
        "p7_resume_nofsync",
        "p7_plain",
        "p7_floor",
        "p7_floor_nofsync",
    }
    assert doc["others"] == {}  # peers only in a full run
    rows = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith(("P", "M"))]
    assert rows == chosen


def test_only_refuses_an_unknown_figure(tmp_path: Path) -> None:
    proc, out = _bench(tmp_path, "--only", "P6,P99")
    assert proc.returncode == 2
    assert "unknown figure P99" in proc.stderr
    assert not out.exists()


def test_p7_resumes_a_fresh_copy_of_the_failed_run(tmp_path: Path) -> None:
    """What every timed ``--resume`` of P7 starts from: the failed run, restored from a
    template that the resume never changes, the run it completed moved to the trash."""
    proj = make_project(tmp_path / "p7", 4, fail_at=2)
    env = child_env()
    run_measured(invoke_cmd("workflow"), proj, env, expect_failure=True)
    store = proj / ".checkpoints"
    failed = only_run(store)
    template = tmp_path / "template" / failed.name
    template.parent.mkdir()
    os.rename(failed, template)
    trash = tmp_path / "trash"
    (proj / FAIL_UNLESS).touch()

    def markers(run: Path) -> list[str]:
        return sorted(p.name for p in run.glob("step_*.complete"))

    before = {p.relative_to(template): p.read_bytes() for p in template.rglob("*") if p.is_file()}
    for round_ in range(2):
        restore_run(template, store, trash)
        assert markers(store / failed.name) == ["step_00.complete", "step_01.complete"]
        run_measured(invoke_cmd("workflow", "--resume"), proj, env)
        assert len(markers(store / failed.name)) == 4
        after = {
            p.relative_to(template): p.read_bytes() for p in template.rglob("*") if p.is_file()
        }
        assert after == before, round_
    restore_run(template, store, trash)
    assert len(os.listdir(trash)) == 2
    assert all(len(markers(run)) == 4 for run in trash.iterdir())
