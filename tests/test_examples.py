"""The walkthrough of examples/release_project/README.md, run as written.

Every ```console block is a command (``$ ...``, with ``VAR=value`` prefixes and an optional
``# exit N``) and the lines it prints: each shown line must appear, in order, in what the
real ``invoke`` prints (``<run>``: a run id, ``<t>``: a duration, ``...``: lines left out).
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

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
