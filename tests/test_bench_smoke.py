"""The benchmark harness runs end to end (``--smoke``) and writes every figure's key.

Correctness of the harness only: tiny sizes, one repetition, no assertion on any timing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parent.parent / "bench" / "run.py"

HEADLINE = ("P1", "P1_nofsync", "P1b", "P1b_fsync", "P2a", "P2b", "P3", "P4", "P4_nofsync")
KEYS = (*HEADLINE, "P5", "raw_write_ms", "details", "others", "targets", "machine", "params")


@pytest.mark.slow
def test_smoke_run_writes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--out", str(out), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=110,
        check=False,
    )
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
    assert "P5" in proc.stdout
    assert set(doc["targets"]) >= {*HEADLINE, "P5"}
    assert set(doc["others"]) == {"doit", "pytask"}
    # The generated projects are cleaned up; only the JSON remains.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
