"""Executable examples in Markdown: transcripts of README.md, docs/ and examples/ run as written.

A fenced block runs only when an HTML comment right above it marks it (other blocks are prose):

    <!-- doctest: SESSION [copy=DIR] [file=NAME] -->

- ``SESSION`` names a scratch project directory; the marked blocks of one document with the
  same session run in it in document order, so a transcript can go on after some prose.
- ``copy=DIR`` first copies ``DIR`` (relative to the repository root, e.g.
  ``examples/smart_parallel``) into the session.
- ``file=NAME``: the block is a file (``tasks.py``, ``invoke.yaml``) written to the session as
  shown. Without it the block is a ``console`` transcript: each ``$ command`` runs in the
  session with ``bash`` (the real ``invoke`` of this interpreter first on ``PATH``,
  ``NO_COLOR=1``, entry-point plugins off, no ``INVOKE_*`` variables of the caller), and the
  lines under it are what it prints, stdout and stderr together.

What a transcript must show: every line, in order. A line ``...`` stands for any number of
lines. A command that exits non-zero must be followed by ``$ echo $?`` (which prints the
code: each command starts with ``$?`` set to the previous one's exit code). Only what changes
from one run to the next is tolerated: run ids (``<workflow>_YYYYMMDD_HHMMSS[_N]``),
timestamps, durations (``0.02s``, ``1m05s``, ETA clocks ``0:03``, status's ``(0.06s running
steps)``), sizes (``2.2 KiB``),
absolute paths (the scratch directory), pids, and the width of the spaces between columns.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_MARKER = re.compile(r"^<!--\s*doctest:\s*(?P<args>.*?)\s*-->\s*$")
_FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>[\w+-]*)")


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@dataclass
class Block:
    """One marked fenced block."""

    doc: Path
    line: int
    session: str
    info: str
    text: str
    copy: str | None = None
    file: str | None = None

    @property
    def where(self) -> str:
        return f"{shown(self.doc)}:{self.line}"


@dataclass
class Session:
    """The marked blocks of one document that share a scratch directory."""

    doc: Path
    name: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{shown(self.doc)}::{self.name}"


def parse(doc: Path) -> list[Block]:
    """The marked blocks of ``doc``, in order. A marker not followed by a block is an error."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    for number, line in enumerate(lines):
        marker = _MARKER.match(line)
        if not marker:
            continue
        words = shlex.split(marker["args"])
        where = f"{shown(doc)}:{number + 1}"
        assert words and "=" not in words[0], f"{where}: a doctest marker names its session first"
        options = dict(word.split("=", 1) for word in words[1:])
        assert set(options) <= {"copy", "file"}, f"{where}: unknown doctest option {options}"
        start = number + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        fence = _FENCE.match(lines[start]) if start < len(lines) else None
        assert fence, f"{where}: a doctest marker must be followed by a fenced block"
        end = start + 1
        while end < len(lines) and lines[end].strip() != fence["fence"]:
            end += 1
        assert end < len(lines), f"{where}: the fenced block is not closed"
        block = Block(
            doc,
            start + 1,
            words[0],
            fence["info"],
            "\n".join(lines[start + 1 : end]) + "\n",
            copy=options.get("copy"),
            file=options.get("file"),
        )
        assert block.file or block.info == "console", (
            f"{block.where}: a transcript is a ```console block (or give file=NAME)"
        )
        blocks.append(block)
    return blocks


def sessions(docs: list[Path]) -> list[Session]:
    """Every session of ``docs``, its blocks in document order."""
    found: dict[tuple[Path, str], Session] = {}
    for doc in docs:
        for block in parse(doc):
            found.setdefault((doc, block.session), Session(doc, block.session)).blocks.append(block)
    return list(found.values())


# -- comparing ---------------------------------------------------------------------------------

_VARIABLE = [
    (re.compile(r"\x1b\[[0-9;]*[A-Za-z]"), ""),
    (re.compile(r"\b[A-Za-z][\w-]*_\d{8}_\d{6}(?:_\d+)?\b"), "<run>"),
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"(?<![\w/.-])/[\w.@+-]+(?:/[\w.@+-]*)*"), "<path>"),
    (re.compile(r"\b\d+(?:\.\d+)? (?:B|KiB|MiB|GiB)\b"), "<size>"),
    (re.compile(r"\b(?:\d+h)?(?:\d+m)?\d+(?:\.\d+)?s\b"), "<t>"),
    (re.compile(r"\b\d+:\d\d(?::\d\d)?\b"), "<clock>"),
    # status: a run that waited for its resume adds the time its steps ran
    (re.compile(r" \(<t> running steps\)"), ""),
    (re.compile(r"\bpid \d+"), "pid <pid>"),
]


def normal(line: str) -> str:
    """``line`` with what differs between two runs replaced by placeholders."""
    for pattern, placeholder in _VARIABLE:
        line = pattern.sub(placeholder, line)
    return re.sub(r"\s+", " ", line).strip()


def mismatch(expected: list[str], actual: list[str]) -> str | None:
    """Why ``actual`` is not ``expected`` (``...`` matches any lines), or None."""
    want = [normal(line) for line in expected]
    got = [normal(line) for line in actual]
    while want and not want[-1]:
        want.pop()
    while got and not got[-1]:
        got.pop()
    if _matches(want, got):
        return None
    return "expected:\n" + "\n".join(expected) + "\n\ngot:\n" + "\n".join(actual)


def _matches(want: list[str], got: list[str]) -> bool:
    if not want:
        return not got
    if want[0] == "...":
        return any(_matches(want[1:], got[i:]) for i in range(len(got) + 1))
    return bool(got) and got[0] == want[0] and _matches(want[1:], got[1:])


# -- running -------------------------------------------------------------------------------------


def commands(block: Block) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` of a transcript."""
    out: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        else:
            assert out, f"{block.where}: a transcript starts with a `$ command` line"
            out[-1][1].append(line)
    return out


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env.pop("COLUMNS", None)
    env.update(
        NO_COLOR="1",
        PYTHONDONTWRITEBYTECODE="1",
        INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def run_session(session: Session, directory: Path, timeout: float = 120) -> None:
    """Run every block of ``session`` in ``directory``; an AssertionError names the first
    command whose output or exit code differs from the document."""
    env = environment()
    scratch = directory.parent / f"{directory.name}-tmp"  # TMPDIR: nothing left in /tmp
    scratch.mkdir(exist_ok=True)
    env["TMPDIR"] = str(scratch)
    code = 0
    pending: tuple[str, int, str] | None = None  # a failed command waiting for `echo $?`
    for block in session.blocks:
        if block.copy:
            shutil.copytree(
                ROOT / block.copy,
                directory,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "build", ".checkpoints"),
            )
        if block.file:
            target = directory / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
            continue
        for command, expected in commands(block):
            if pending and command.strip() != "echo $?":
                raise AssertionError(
                    f"{pending[0]}: `{pending[2]}` exited {pending[1]}; show it with `$ echo $?`"
                )
            pending = None
            proc = subprocess.run(
                ["bash", "-c", f"(exit {code}); {command}"],
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
            why = mismatch(expected, proc.stdout.splitlines())
            if why:
                raise AssertionError(f"{block.where}: `$ {command}` printed otherwise; {why}")
            code = proc.returncode
            if code:
                pending = (block.where, code, command)
    if pending:
        raise AssertionError(f"{pending[0]}: `{pending[2]}` exited {pending[1]}; show it")
