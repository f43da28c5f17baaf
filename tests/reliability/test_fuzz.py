"""Fuzzing the readers: damaged checkpoint.json, markers and state files (hypothesis).

Each example copies a failed run (marker 0; state files 0 and 1), damages one file and runs
``status``, ``list``, ``--resume`` and ``clean --all`` on the copy, in-process.

Every mutation carries a verdict decided by how it was built, not by the code under test:

* ``refuse`` (truncated before the last field, random bytes, NUL bytes, wrong types,
  missing required keys, a major version other than 1, a marker naming another step):
  ``status``, ``--resume`` and ``clean --all`` exit 2 with one line naming the file and what
  to do, ``list`` exits 0 listing the run as ``corrupt`` with the reason; no traceback, no
  step runs, no file changes;
* ``accept`` (a missing optional key, a newer minor version, a huge string): the commands
  work as on the original file: the resume completes the run, clean removes it;
* ``either`` (huge numbers, deep nesting, a truncated trailing number): whichever way
  ``status`` answers, the other commands must agree with it, with the same guarantees.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..conftest import Project, log_lines, store_files
from .conftest import examples, one_line, record_case, scratch

Verdict = Literal["refuse", "accept", "either"]

FUZZ = settings(
    max_examples=examples(20),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@dataclass(frozen=True)
class Damage:
    """New bytes for one file of the run, and what the commands must make of them."""

    label: str
    data: bytes
    verdict: Verdict


# -- JSON documents ----------------------------------------------------------------------

SCALARS = st.one_of(st.integers(), st.booleans(), st.text(max_size=8))
CONTAINERS = st.one_of(
    st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=5), SCALARS, max_size=3)
)


@dataclass(frozen=True)
class Shape:
    """Which keys of a JSON document are scalars, lists, objects; which are required."""

    scalars: tuple[str, ...]
    lists: tuple[str, ...]
    objects: tuple[str, ...]
    required: tuple[str, ...]
    #: Scalars that must not be null.
    not_null: tuple[str, ...]
    #: An empty file: what a power cut may leave of one renamed without fsync. A state file
    #: then counts as absent (it held nothing the marker does not rebuild); others refuse.
    empty: Verdict = "refuse"

    @property
    def optional(self) -> tuple[str, ...]:
        every = self.scalars + self.lists + self.objects
        return tuple(k for k in every if k not in self.required)


CHECKPOINT = Shape(
    scalars=(
        "version",
        "workflow_id",
        "workflow",
        "project_path",
        "started_at",
        "last_checkpoint",
        "status",
        "current_step",
        "total_steps",
        "finished_at",
    ),
    lists=("completed_steps", "steps", "warnings"),
    objects=(
        "execution_mode",
        "smart_execution",
        "parallel_execution",
        "environment",
        "metadata",
        "options",
        "vars",
    ),
    required=(
        "version",
        "workflow_id",
        "workflow",
        "project_path",
        "started_at",
        "last_checkpoint",
        "total_steps",
        "steps",
        "metadata",
    ),
    not_null=(
        "version",
        "workflow_id",
        "workflow",
        "project_path",
        "started_at",
        "last_checkpoint",
        "status",
        "total_steps",
    ),
)

STATE = Shape(
    scalars=(
        "step",
        "name",
        "status",
        "started_at",
        "completed_at",
        "duration_seconds",
        "exit_code",
        "reason",
        "attempts",
    ),
    lists=("errors", "warnings"),
    objects=("args", "outputs"),
    required=("step", "name", "status"),
    not_null=("step", "name", "status", "attempts"),
    empty="accept",
)


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, indent=2).encode() + b"\n"


def _truncated(original: bytes, cut: int, *, refuse_below: int) -> Damage:
    verdict: Verdict = "refuse" if cut < refuse_below else "either"
    return Damage(f"truncated to {cut} bytes", original[:cut], verdict)


def _with_nul(original: bytes, at: int, count: int) -> Damage:
    return Damage(f"NUL at {at}", original[:at] + b"\x00" * count + original[at:], "refuse")


@st.composite
def json_wrong_type(draw: st.DrawFn, original: bytes, shape: Shape) -> Damage:
    doc: dict[str, Any] = json.loads(original)
    key = draw(st.sampled_from(shape.scalars + shape.lists + shape.objects))
    if key in shape.scalars:
        wrong = st.one_of(CONTAINERS, st.none()) if key in shape.not_null else CONTAINERS
    elif key in shape.lists:
        wrong = st.one_of(st.dictionaries(st.text(max_size=5), SCALARS), st.text(), st.none())
    else:
        wrong = st.one_of(st.lists(SCALARS, max_size=3), SCALARS, st.none())
    doc[key] = draw(wrong)
    return Damage(f"{key} = {doc[key]!r}", _dump(doc), "refuse")


@st.composite
def json_missing(draw: st.DrawFn, original: bytes, shape: Shape) -> Damage:
    doc: dict[str, Any] = json.loads(original)
    required = draw(st.booleans())
    key = draw(st.sampled_from(shape.required if required else shape.optional))
    doc.pop(key, None)
    if required:
        return Damage(f"required {key} removed", _dump(doc), "refuse")
    return Damage(f"optional {key} removed", _dump(doc), "accept")


@st.composite
def json_huge(draw: st.DrawFn, original: bytes) -> Damage:
    """A huge string (readable), deep nesting or a huge integer (either way)."""
    doc: dict[str, Any] = json.loads(original)
    kind = draw(st.sampled_from(["string", "deep", "integer"]))
    if kind == "string":
        size = draw(st.integers(10_000, 2_000_000))
        key = "environment" if "environment" in doc else "outputs"
        doc[key] = {**doc[key], "blob": "x" * size}
        return Damage(f"{key}.blob of {size} bytes", _dump(doc), "accept")
    depth = draw(st.integers(1, 3000))
    if kind == "deep":
        key = "vars" if "vars" in doc else "outputs"
        doc[key] = {**doc[key], "deep": "@DEEP@"}
        data = _dump(doc).replace(b'"@DEEP@"', ("[" * depth + "]" * depth).encode())
        return Damage(f"{key}.deep nested {depth} levels", data, "either")
    key = "total_steps" if "total_steps" in doc else "attempts"
    doc[key] = 10 ** min(depth, 4200)
    return Damage(f"{key} = 10**{min(depth, 4200)}", _dump(doc), "either")


def json_damage(original: bytes, shape: Shape) -> st.SearchStrategy[Damage]:
    """One damaged version of the JSON document ``original``.

    Cutting the closing brace breaks it (only the final newline may go); random bytes and
    NUL bytes are never a valid document.
    """
    return st.one_of(
        st.integers(0, len(original) - 1).map(
            lambda cut: _truncated(original, cut, refuse_below=len(original) - 1)
        ),
        st.binary(max_size=300).map(lambda data: Damage("random bytes", data, "refuse")),
        st.builds(_with_nul, st.just(original), st.integers(0, len(original)), st.integers(1, 4)),
        json_wrong_type(original, shape),
        json_missing(original, shape),
        json_huge(original),
    ).map(lambda d: d if d.data else Damage(f"{d.label} (empty)", d.data, shape.empty))


@st.composite
def checkpoint_damage(draw: st.DrawFn, original: bytes) -> Damage:
    """JSON damage, or a version from the future (major != 1) or a newer minor (readable)."""
    if draw(st.integers(0, 5)):
        return draw(json_damage(original, CHECKPOINT))
    doc: dict[str, Any] = json.loads(original)
    major = draw(st.one_of(st.just(1), st.integers(0, 10**6)))
    minor, patch = draw(st.integers(0, 999)), draw(st.integers(0, 999))
    doc["version"] = f"{major}.{minor}.{patch}"
    doc["added_later"] = {"x": minor}
    return Damage(f"version {doc['version']}", _dump(doc), "accept" if major == 1 else "refuse")


# -- markers -----------------------------------------------------------------------------

MARKER_KEYS = ("STEP", "NAME", "COMPLETED_AT", "DURATION_SECONDS", "EXIT_CODE")
WRONG_MARKER_VALUES = {
    "STEP": st.sampled_from(["abc", "1.5", "[]", "", "1", "-1", "99"]),
    "NAME": st.sampled_from(["test", "docs", "", "lint2", "'lint'x"]),
    "COMPLETED_AT": st.sampled_from(["yesterday", "", "2026-13-45T99:99:99Z", "[]"]),
    "DURATION_SECONDS": st.sampled_from(["fast", "", "1,5", "[]"]),
    "EXIT_CODE": st.sampled_from(["1", "-1", "x", "", "255"]),
}


@st.composite
def marker_field(draw: st.DrawFn, original: bytes) -> Damage:
    """A field with a wrong value, a field removed, or an unknown field added."""
    lines = original.decode().splitlines()
    key = draw(st.sampled_from(MARKER_KEYS))
    kind = draw(st.sampled_from(["wrong", "missing", "unknown"]))
    if kind == "wrong":
        value = draw(WRONG_MARKER_VALUES[key])
        new = [f"{key}={value}" if line.startswith(key + "=") else line for line in lines]
        return Damage(f"{key}={value}", ("\n".join(new) + "\n").encode(), "refuse")
    if kind == "missing":
        new = [line for line in lines if not line.startswith(key + "=")]
        verdict: Verdict = "accept" if key == "EXIT_CODE" else "refuse"  # EXIT_CODE defaults
        return Damage(f"{key} removed", ("\n".join(new) + "\n").encode(), verdict)
    # A newer minor version's key: accepted and ignored, like the JSON files' (issue #12).
    return Damage("unknown key", original + b"FUTURE_KEY=1\n", "accept")


@st.composite
def marker_huge(draw: st.DrawFn, original: bytes) -> Damage:
    size = draw(st.integers(1_000, 50_000))
    if draw(st.booleans()):
        data = original.replace(b"NAME=lint", b"NAME=" + b"l" * size)
        return Damage(f"NAME of {size} bytes", data, "refuse")
    lines = original.decode().splitlines()
    digits = f"DURATION_SECONDS=1{'0' * size}"
    new = [digits if line.startswith("DURATION") else line for line in lines]
    return Damage(f"DURATION_SECONDS of {size} digits", ("\n".join(new) + "\n").encode(), "either")


def marker_damage(original: bytes) -> st.SearchStrategy[Damage]:
    """One damaged version of the marker ``original`` (of step 0, ``lint``).

    A cut up to DURATION_SECONDS' value loses a required field; a NUL byte anywhere breaks
    a key, a value or the step's name.
    """
    needed = original.index(b"DURATION_SECONDS=") + len(b"DURATION_SECONDS=") + 1
    return st.one_of(
        st.integers(0, len(original) - 1).map(
            lambda cut: _truncated(original, cut, refuse_below=needed)
        ),
        st.binary(max_size=200).map(lambda data: Damage("random bytes", data, "refuse")),
        st.builds(_with_nul, st.just(original), st.integers(0, len(original)), st.just(1)),
        marker_field(original),
        marker_huge(original),
    )


# -- running the commands ----------------------------------------------------------------


def exercise(project: Project, rel: str, damage: Damage, suite: str) -> None:
    """status, list, --resume, clean --all on the damaged copy; each answer checked."""
    before, ran = store_files(project), log_lines(project)
    status = project.invoke("workflow.status")
    assert status.code in (0, 2), (damage.label, status)
    assert "Traceback" not in status.out + status.err, (damage.label, status.err)
    refused = status.code == 2
    if damage.verdict != "either":
        assert refused == (damage.verdict == "refuse"), (damage.label, status)
    record_case(suite, "refused" if refused else "accepted")
    if refused:
        _check_refusals(project, rel, damage, before, ran, one_line(status))
        return
    listed = project.invoke("workflow.list")
    assert listed.code == 0 and "corrupt" not in listed.out, (damage.label, listed)
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, (damage.label, resumed.err)
    assert log_lines(project) == ["test", "docs"]  # step 0 has its marker: it never runs again
    run = project.only_run()
    assert json.loads((run / "checkpoint.json").read_bytes())["status"] == "completed"
    cleaned = project.invoke("workflow.clean", "--all")
    assert cleaned.code == 0, (damage.label, cleaned.err)
    assert project.runs() == []


def _check_refusals(
    project: Project,
    rel: str,
    damage: Damage,
    before: dict[str, bytes],
    ran: list[str],
    status_line: str,
) -> None:
    assert rel in status_line and "start a new run" in status_line, (damage.label, status_line)
    assert store_files(project) == before, damage.label
    listed = project.invoke("workflow.list")
    assert listed.code == 0, (damage.label, listed.err)
    assert "corrupt" in listed.out and rel in listed.out, (damage.label, listed.out)
    assert store_files(project) == before, damage.label
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 2, (damage.label, resumed)
    line = one_line(resumed)
    assert rel in line and "start a new run" in line, (damage.label, line)
    assert store_files(project) == before, damage.label
    assert log_lines(project) == ran, damage.label
    cleaned = project.invoke("workflow.clean", "--all")
    assert cleaned.code == 2, (damage.label, cleaned)
    line = one_line(cleaned)
    assert rel in line and "nothing was removed" in line, (damage.label, line)
    assert store_files(project) == before, damage.label


def _damage(failed_run: Path, rel: str, draw_damage: Any) -> tuple[Damage, str]:
    run = next((failed_run / ".checkpoints").glob("workflow_*"))
    original = (run / rel).read_bytes()
    return draw_damage(original), f"{run.name}/{rel}"


@FUZZ
@given(data=st.data())
def test_damaged_checkpoint_json(failed_run: Path, data: st.DataObject) -> None:
    damage, rel = _damage(failed_run, "checkpoint.json", lambda b: data.draw(checkpoint_damage(b)))
    with scratch(failed_run) as project:
        (project.root / ".checkpoints" / rel).write_bytes(damage.data)
        exercise(project, rel, damage, "fuzz: checkpoint.json")


@FUZZ
@given(data=st.data(), step=st.sampled_from([0, 1]))
def test_damaged_state_file(failed_run: Path, data: st.DataObject, step: int) -> None:
    name = f"state/step_{step:02d}_state.json"
    damage, rel = _damage(failed_run, name, lambda b: data.draw(json_damage(b, STATE)))
    with scratch(failed_run) as project:
        (project.root / ".checkpoints" / rel).write_bytes(damage.data)
        exercise(project, rel, damage, "fuzz: state files")


@FUZZ
@given(data=st.data())
def test_damaged_marker(failed_run: Path, data: st.DataObject) -> None:
    damage, rel = _damage(failed_run, "step_00.complete", lambda b: data.draw(marker_damage(b)))
    with scratch(failed_run) as project:
        (project.root / ".checkpoints" / rel).write_bytes(damage.data)
        exercise(project, rel, damage, "fuzz: markers")


def test_old_run_of_a_future_format_neither_blocks_nor_is_cleaned(failed_run: Path) -> None:
    """Retention at the start of a run skips an old run it cannot read (format 2.x) instead
    of failing the new run; ``clean --all`` refuses it; both leave its files alone."""
    with scratch(failed_run) as project:
        run = project.only_run()
        old = time.time() - 30 * 86_400
        old_id = "workflow_" + time.strftime("%Y%m%d_%H%M%S", time.gmtime(old))
        doc = json.loads((run / "checkpoint.json").read_bytes())
        doc.update(version="2.0.0", workflow_id=old_id)
        (run / "checkpoint.json").write_text(json.dumps(doc))
        os.utime(run / "checkpoint.json", (old, old))
        run = run.rename(run.with_name(old_id))
        before = {k: v for k, v in store_files(project).items() if k.startswith(old_id)}

        started = project.invoke("workflow")
        assert started.code == 0, started.err
        assert len(project.runs()) == 2
        cleaned = project.invoke("workflow.clean", "--all")
        assert cleaned.code == 2
        line = one_line(cleaned)
        assert "format version 2.0.0" in line and "nothing was removed" in line
        assert {k: v for k, v in store_files(project).items() if k.startswith(old_id)} == before
