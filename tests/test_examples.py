"""The examples' own READMEs, run as written.

examples/release_project/README.md: every ```console block is a command (``$ ...``, with
``VAR=value`` prefixes and an optional ``# exit N``) and the lines it prints: each shown line
must appear, in order, in what the real ``invoke`` prints (``<run>``: a run id, ``<t>``: a
duration, ``...``: lines left out). examples/notify_plugin/README.md: the package installed by
pip, its plugin listing and its event log as shown. (examples/quickstart and
examples/smart_parallel are run through their doctest markers by tests/test_docs.py.)
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from . import doctest_md
from .conftest import Project

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "release_project"


def _blocks(readme: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", readme, re.S):
        lines = block.splitlines()
        assert lines[0].startswith("$ "), lines[0]
        out.append((lines[0][2:], lines[1:]))
    return out


def _normal(line: str) -> str:
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    line = re.sub(r"\b\w+_\d{8}_\d{6}(_\d+)?\b", "<run>", line)
    line = re.sub(r"\b\d+(\.\d+)?s\b", "<t>", line)
    line = re.sub(r" \(ETA [0-9:]+\)", "", line)
    return re.sub(r"\s+", " ", line).strip()


def _expect_in_order(expected: list[str], actual: str, command: str) -> None:
    lines = [_normal(line) for line in actual.splitlines()]
    position = 0
    for want in expected:
        if want.strip() == "...":
            continue
        target = _normal(want)
        while position < len(lines) and lines[position] != target:
            position += 1
        assert position < len(lines), f"`{command}`: {want!r} not found in order in:\n{actual}"
        position += 1


def test_release_project_walkthrough(project: Project) -> None:
    shutil.copytree(EXAMPLE, project.root, dirs_exist_ok=True)
    blocks = _blocks((EXAMPLE / "README.md").read_text())
    assert len(blocks) >= 6
    for command, expected in blocks:
        text, _, comment = command.partition("#")
        code = int(comment.split()[-1]) if "exit" in comment else 0
        words = shlex.split(text)
        env = {"NO_COLOR": "1"}
        while "=" in words[0]:
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        assert words[0] == "invoke"
        out = project.run(*words[1:], env=env)
        assert out.code == code, f"`{command}` exited {out.code}:\n{out.out}\n{out.err}"
        assert "Traceback" not in out.err
        _expect_in_order(expected, out.out, command)
    assert (project.root / "published" / "greet.zip").is_file()


# -- examples/notify_plugin/README.md: installed by pip, its listing and its log as shown ------

NOTIFY = Path(__file__).resolve().parents[1] / "examples" / "notify_plugin"


@pytest.mark.slow
def test_notify_plugin_readme(project: Project, tmp_path: Path) -> None:
    """`invoke workflow.plugins` prints the README's listing once the package is installed,
    and a failed run and its resume log the README's sequence of events."""
    pytest.importorskip("hatchling", reason="building the example needs hatchling installed")
    site = tmp_path / "site"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-index", "--no-deps", "--no-build-isolation", "--target", str(site)),
            str(NOTIFY),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    readme = (NOTIFY / "README.md").read_text()
    listing, usage = re.findall(r"```console\n(.*?)```", readme, re.S)[:2]
    expected = listing.split("$ invoke workflow.plugins\n", 1)[1].splitlines()
    project.use("three_steps")
    env = {"PYTHONPATH": str(site), "INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD": ""}
    out = project.run("workflow.plugins", env=env)
    assert out.code == 0, out.err
    version = importlib.metadata.version("invoke-checkpoints")
    shown = [line.replace(version, "0.1.0") for line in out.out.splitlines()]
    assert doctest_md.mismatch(expected, shown) is None, doctest_md.mismatch(expected, shown)
    assert project.run("workflow", env={**env, "FAIL": "1"}).code == 3
    assert project.run("workflow", "--resume", env=env).code == 0
    log = project.only_run() / "events.jsonl"
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    # The README's log: one JSON object per line ("..." for values and lines left out).
    shown_rows = [line for line in usage.splitlines() if line.startswith(("{", "..."))]
    events = [re.sub(r'.*"event": "(\w+)".*', r"\1", line) for line in shown_rows]
    assert doctest_md.mismatch(events, [row["event"] for row in rows]) is None, events
    for line, row in zip(shown_rows, rows, strict=False):
        if line == "...":
            break
        keys = set(re.findall(r'"(\w+)": ', line))
        assert keys <= set(row), (line, row)
        assert row["event"] in line
