"""The fast readers of ``status``/``list`` (``reading.py``) agree with the pydantic models.

* Their checks are compiled from the models' JSON Schemas (``schema_check.py``): strict JSON
  types, and a field added to a model is checked with no change to ``reading.py``.
* Whatever they accept, the models accept with the same values (hypothesis, on damaged copies
  of real files); what they do not accept goes to the models, so decisions never differ.
* ``status`` and ``list`` of a healthy run import neither pydantic nor the models.
"""

from __future__ import annotations

import json
import math
import shlex
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from invoke_checkpoints.errors import CheckpointError
from invoke_checkpoints.store import reading
from invoke_checkpoints.store.models import Checkpoint, Marker, StepState, json_schema
from invoke_checkpoints.store.reading import (
    CHECKPOINT_SCHEMA,
    MARKER_SCHEMA,
    STATE_SCHEMA,
    document,
    load_checkpoint,
    load_marker,
    load_state,
)

from .conftest import THREE_STEPS, Project

# -- the compiled schemas are the models' -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "model"),
    [(CHECKPOINT_SCHEMA, Checkpoint), (STATE_SCHEMA, StepState), (MARKER_SCHEMA, Marker)],
)
def test_every_field_and_default_of_the_models_is_compiled(
    name: str, model: type[BaseModel]
) -> None:
    """Each model field is checked, and each defaulted one is filled when missing."""
    assert set(document(name).fields) == set(model.model_fields)
    defaults = {k for k, f in model.model_fields.items() if not f.is_required()}
    assert set(document(name).defaults) == defaults


class _StepStateWithMore(StepState):
    """A model that grew: new fields, required, defaulted, nested."""

    priority: int = 3
    owner: str
    tags: list[str] = Field(default_factory=list)
    limits: dict[str, float] = Field(default_factory=lambda: {"cpu": 1.0})


def test_a_field_added_to_a_model_is_picked_up(
    real_files: tuple[bytes, bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the model changes: its schema is what the fast reader checks and fills."""
    schema = json_schema(_StepStateWithMore)
    monkeypatch.setattr(reading, "load", lambda name: schema)
    document.cache_clear()
    try:
        state = json.loads(real_files[1])
        assert not document(STATE_SCHEMA).check(state)  # "owner" is required now
        state["owner"] = "ci"
        got = load_state(json.dumps(state).encode(), "x")
        assert got["priority"] == 3 and got["tags"] == [] and got["limits"] == {"cpu": 1.0}
        assert got == _StepStateWithMore.model_validate(state).model_dump(mode="json")
        for odd in ("3", True, 1.5, None, 2**63):
            assert not document(STATE_SCHEMA).check({**state, "priority": odd})
        assert not document(STATE_SCHEMA).check({**state, "tags": ["a", 1]})
        assert not document(STATE_SCHEMA).check({**state, "limits": {"cpu": math.nan}})
    finally:
        document.cache_clear()


def test_defaults_are_fresh_copies(real_files: tuple[bytes, bytes, bytes]) -> None:
    state = json.loads(real_files[1])
    del state["errors"]
    first = load_state(json.dumps(state).encode(), "x")
    first["errors"].append("mutated")
    assert load_state(json.dumps(state).encode(), "x")["errors"] == []


# -- whatever the fast path accepts, the models accept too --------------------------------


def _real_files(project: Project) -> tuple[bytes, bytes, bytes]:
    project.write(THREE_STEPS)
    assert project.invoke("workflow").code == 0
    run = project.only_run()
    return (
        (run / "checkpoint.json").read_bytes(),
        (run / "state" / "step_00_state.json").read_bytes(),
        (run / "step_00.complete").read_bytes(),
    )


ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "2026-11-26T23:30:15Z",
            "2026-11-26T23:30:15+01:00",
            "2026-11-26T23:30:60Z",
            "2026-02-30T00:00:00Z",
            "2026-11-26 23:30:15Z",
            "2026-11- 1T00:00:00Z",
            "2026-11-26t23:30:15z",
            "\u0662\u0660\u0662\u0666-01-01T00:00:00Z",
            "0999-01-01T00:00:00Z",
            "2026-11-26",
            "1",
            "1.5",
            "true",
            "running",
            "completed",
            "",
        ]
    ),
    st.lists(st.integers(0, 5), max_size=3),
    st.dictionaries(st.sampled_from(["a", "step", "status"]), st.integers(0, 3), max_size=2),
)


def _mutate(doc: Any, path: list[Any], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _paths(doc: Any, prefix: list[Any]) -> list[list[Any]]:
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, [*prefix, key])
    elif isinstance(doc, list):
        for i, value in enumerate(doc[:3]):
            found += _paths(value, [*prefix, i])
    return found


def _same_decision(fast: Any, model: Any, data: bytes) -> None:
    try:
        expected = model(data)
    except CheckpointError:
        with pytest.raises(CheckpointError):
            fast(data)
        return
    # The models accept it: every value the fast reader returns is the model's (the model
    # also fills nested defaults, which the fast reader leaves out).
    got = fast(data)
    assert _agrees(got, expected), (got, expected)
    assert set(got) >= set(USED) & set(expected)


#: The top-level keys the read-only commands use: the fast readers always return them.
USED: tuple[str, ...] = (
    "status",
    "steps",
    "workflow",
    "workflow_id",
    "started_at",
    "last_checkpoint",
)
USED += ("finished_at", "total_steps", "warnings", "durations", "completed_steps")
USED += ("name", "step", "duration_seconds", "exit_code", "reason", "errors", "attempts")
USED += ("STEP", "NAME", "COMPLETED_AT", "DURATION_SECONDS", "EXIT_CODE")


def _agrees(fast: Any, model: Any) -> bool:
    if isinstance(fast, dict):
        return isinstance(model, dict) and all(
            k in model and _agrees(v, model[k]) for k, v in fast.items()
        )
    if isinstance(fast, list):
        return (
            isinstance(model, list)
            and len(fast) == len(model)
            and all(_agrees(a, b) for a, b in zip(fast, model, strict=True))
        )
    if isinstance(fast, float) and math.isnan(fast):
        return isinstance(model, float) and math.isnan(model)
    if isinstance(fast, bool) or isinstance(model, bool):
        return fast is model  # True == 1 in Python, not in JSON
    if type(fast) is int and type(model) is float:
        # A number field given an integer: the model makes it a float, and so do the records
        # built from the fast reader's dict (float()); beyond 2**53 the two differ from the int.
        return float(fast) == model
    return bool(fast == model)


def _checkpoint_by_model(data: bytes) -> dict[str, Any]:
    dumped: dict[str, Any] = Checkpoint.from_json(data, source="x").model_dump(mode="json")
    return dumped


def _state_by_model(data: bytes) -> dict[str, Any]:
    dumped: dict[str, Any] = StepState.from_json(data, source="x").model_dump(mode="json")
    return dumped


@pytest.fixture(scope="module")
def real_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, bytes]:
    mp = pytest.MonkeyPatch()
    try:
        root = tmp_path_factory.mktemp("reading") / "proj"
        root.mkdir()
        mp.setenv("INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD", "1")
        return _real_files(Project(root, mp))
    finally:
        mp.undo()


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_json_documents_are_judged_like_the_models(
    real_files: tuple[bytes, bytes, bytes], data: st.DataObject
) -> None:
    checkpoint, state, _ = real_files
    which = data.draw(st.sampled_from(["checkpoint", "state"]))
    doc = json.loads(checkpoint if which == "checkpoint" else state)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_paths(doc, [])))
        if data.draw(st.booleans()):
            _mutate(doc, path, data.draw(ODD_VALUES))
        elif len(path) == 1:
            doc.pop(path[0], None)
    raw = json.dumps(doc).encode()
    if which == "checkpoint":
        _same_decision(lambda d: load_checkpoint(d, "x"), _checkpoint_by_model, raw)
    else:
        _same_decision(lambda d: load_state(d, "x"), _state_by_model, raw)


MARKER_VALUES = st.sampled_from(
    [
        *("0", "00", "1", "-1", "1.0", "+1", " 1", "1e3", "0.412", ".5", "5.", "1_000", "nan"),
        *("2026-11-26T23:30:16Z", "2026-11-26T23:30:16", "'2026-11-26T23:30:16Z'", "", "''"),
        *("2026-11-'' 1T00:00:00Z", "2026-11-26t23:30:16z", "nan", "inf", "1e999"),
        *("lint", "'lint'", '"lint"', "li nt", "'li nt'", "$x", "a=b", "'unclosed", "\\x"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_markers_are_judged_like_the_model(
    real_files: tuple[bytes, bytes, bytes], data: st.DataObject
) -> None:
    lines = real_files[2].decode().splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(lines) - 1))
        key = lines[i].partition("=")[0]
        kind = data.draw(st.sampled_from(["value", "drop", "dup", "key"]))
        if kind == "value":
            lines[i] = f"{key}={data.draw(MARKER_VALUES)}"
        elif kind == "drop":
            lines.pop(i)
            if not lines:
                break
        elif kind == "dup":
            lines.append(lines[i])
        else:
            lines[i] = data.draw(st.sampled_from([" STEP", "step", "# x", "", "NEW"])) + "=1"
    raw = ("\n".join(lines) + "\n").encode()

    def by_model(d: bytes) -> dict[str, Any]:
        dumped: dict[str, Any] = Marker.from_text(d, source="x").model_dump(mode="json")
        return dumped

    _same_decision(lambda d: load_marker(d, "x"), by_model, raw)


ODD_TIMESTAMPS = [
    "2026-11- 1T00:00:00Z",  # strptime takes a space-padded day
    "2026-11-26t23:30:15z",  # and lower-case letters
    "\u0662\u0660\u0662\u0666-01-01T00:00:00Z",  # and any Unicode digit
    "2026-11-26T23:30:60Z",
    "2026-02-30T00:00:00Z",
    "2026-11-26T23:30:15+00:00",
    "0999-01-01T00:00:00Z",
    "2026-11-26T23:30:15.5Z",
]


@pytest.mark.parametrize("odd", ODD_TIMESTAMPS)
def test_every_timestamp_field_is_judged_like_the_models(
    real_files: tuple[bytes, bytes, bytes], odd: str
) -> None:
    """Each timestamp field of the three files, set to each odd value: same decision."""
    checkpoint, state, marker = real_files
    for field in ("started_at", "last_checkpoint", "finished_at"):
        doc = json.loads(checkpoint)
        doc[field] = odd
        _same_decision(
            lambda d: load_checkpoint(d, "x"), _checkpoint_by_model, json.dumps(doc).encode()
        )
    for field in ("started_at", "completed_at"):
        doc = json.loads(state)
        doc[field] = odd
        _same_decision(lambda d: load_state(d, "x"), _state_by_model, json.dumps(doc).encode())
    lines = [
        f"COMPLETED_AT={shlex.quote(odd)}" if line.startswith("COMPLETED_AT=") else line
        for line in marker.decode().splitlines()
    ]

    def by_model(d: bytes) -> dict[str, Any]:
        dumped: dict[str, Any] = Marker.from_text(d, source="x").model_dump(mode="json")
        return dumped

    _same_decision(lambda d: load_marker(d, "x"), by_model, ("\n".join(lines) + "\n").encode())


@pytest.mark.parametrize("line", ["EXIT_CODE=1", "EXIT_CODE=true", "STEP=true", "EXTRA='a"])
def test_marker_values_the_model_refuses_are_refused(
    real_files: tuple[bytes, bytes, bytes], line: str
) -> None:
    """Bounds (``EXIT_CODE`` is 0) and types of the marker come from its schema; an unknown
    key is ignored (a newer minor version's), but its value must still parse."""
    key = line.partition("=")[0]
    lines = [x for x in real_files[2].decode().splitlines() if not x.startswith(key + "=")]
    raw = ("\n".join([*lines, line]) + "\n").encode()
    assert reading._marker_fields(raw) is None
    with pytest.raises(CheckpointError):
        load_marker(raw, "x")


def test_real_files_take_the_fast_path(real_files: tuple[bytes, bytes, bytes]) -> None:
    """Files as written are accepted by the compiled checks themselves (no fallback)."""
    checkpoint, state, marker = real_files
    assert document(CHECKPOINT_SCHEMA).check(json.loads(checkpoint))
    assert document(STATE_SCHEMA).check(json.loads(state))
    assert reading._marker_fields(marker) == Marker.from_text(marker, source="x").model_dump(
        mode="json"
    )


# -- no pydantic for a healthy run ---------------------------------------------------------

READ_ONLY = """
import sys
from invoke import Program
for argv in {commands!r}:
    try:
        Program(name="invoke", binary="invoke").run(["invoke", *argv], exit=True)
    except SystemExit as exc:
        assert not exc.code, (argv, exc.code)
heavy = ("pydantic", "invoke_checkpoints.store.models")
print("LOADED=" + ",".join(m for m in heavy if m in sys.modules))
"""


def test_status_and_list_of_a_healthy_run_skip_pydantic(project: Project) -> None:
    project.write(THREE_STEPS)
    assert project.run("workflow").code == 0
    commands = [["workflow.status"], ["workflow.status", "--json"], ["workflow.list"]]
    out = subprocess.run(
        [sys.executable, "-c", READ_ONLY.format(commands=commands)],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "completed" in out
    assert out.strip().splitlines()[-1] == "LOADED="
