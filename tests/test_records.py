"""The records a run writes (``store/records.py``) mirror the models (``store/models.py``), the
one definition of the format: the same fields, in the same order, with the same defaults, and
whatever a record writes the model reads back as exactly that document."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from invoke_checkpoints.store import models, records
from invoke_checkpoints.store.jsontext import pretty
from invoke_checkpoints.store.reading import load_checkpoint, load_marker, load_state
from invoke_checkpoints.store.structs import Record
from invoke_checkpoints.store.vocabulary import RunStatus, StepStatus, utcnow

from .conftest import Project, log_lines

#: Each record class and the model it mirrors.
PAIRS: list[tuple[type[Any], type[BaseModel]]] = [
    (records.ExecutionMode, models.ExecutionMode),
    (records.SmartExecution, models.SmartExecution),
    (records.GroupState, models.GroupState),
    (records.ParallelExecution, models.ParallelExecution),
    (records.Metadata, models.Metadata),
    (records.Checkpoint, models.Checkpoint),
    (records.Attempt, models.Attempt),
    (records.StepState, models.StepState),
    (records.Marker, models.Marker),
]
GROWING = ["steps", "completed_steps", "durations"]


def _json(value: Any) -> Any:
    """A default as JSON, whichever side made it."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Record):
        return value.to_dict()
    return json.loads(json.dumps(value))


# -- (a) the same fields, order and defaults --------------------------------------------------


@pytest.mark.parametrize(("record", "model"), PAIRS, ids=[m.__name__ for _, m in PAIRS])
def test_fields_order_and_defaults_match_the_model(
    record: type[Any], model: type[BaseModel]
) -> None:
    assert tuple(model.model_fields) == record.FIELDS
    required = {name for name, info in model.model_fields.items() if info.is_required()}
    sample: dict[str, Any] = {name: object() for name in required}
    built = record(**sample)  # every field the model requires is enough
    for name in required:
        with pytest.raises(TypeError):  # and each of them is required
            record(**{k: v for k, v in sample.items() if k != name})
    for name, info in model.model_fields.items():
        if name in required:
            continue
        default = info.get_default(call_default_factory=True)
        assert _json(getattr(built, name)) == _json(default), name
    # Unknown keys are kept exactly where the model keeps them.
    assert issubclass(record, Record) == (model.model_config.get("extra") == "allow")


def test_factory_defaults_are_not_shared() -> None:
    a = records.StepState(step=0, name="a", status=StepStatus.RUNNING)
    b = records.StepState(step=0, name="a", status=StepStatus.RUNNING)
    a.outputs["x"] = 1
    a.extra["y"] = 2
    assert b.outputs == {} and b.extra == {}


# -- (b) what a record writes, the model reads as that very document -------------------------

_I64 = st.integers(-(2**63), 2**63 - 1)
_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_FINITE = st.floats(allow_nan=False, allow_infinity=False)
#: Optional floats: a non-finite one is written null, as pydantic writes it.
_MAYBE_FLOAT = st.none() | st.floats()
_WHEN = st.datetimes(
    min_value=datetime(1000, 1, 1),
    max_value=datetime(9999, 12, 31),
    timezones=st.just(timezone.utc),
).map(lambda d: d.replace(microsecond=0))
_JSON = st.recursive(
    st.none() | st.booleans() | _I64 | _FINITE | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


def _extra(fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Unknown keys (a plugin's, a newer version's), never one of the fields."""
    return st.dictionaries(_TEXT.filter(lambda k: k not in fields), _JSON, max_size=2)


def _build(cls: type[Any], **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A strategy for ``cls`` with a strategy per field (a field without one fails here)."""
    assert set(fields) == set(cls.FIELDS), set(cls.FIELDS) ^ set(fields)
    if issubclass(cls, Record):
        fields["extra"] = _extra(cls.FIELDS)
    return st.builds(cls, **fields)


ATTEMPTS = _build(
    records.Attempt,
    status=st.sampled_from(StepStatus),
    started_at=st.none() | _WHEN,
    started_at_epoch=_MAYBE_FLOAT,
    duration_seconds=_MAYBE_FLOAT,
    exit_code=st.none() | _I64,
    error=st.none() | _TEXT,
    reason=st.none() | _TEXT,
)
STATES = _build(
    records.StepState,
    step=st.integers(0, 10**6),
    name=_TEXT,
    status=st.sampled_from(StepStatus),
    args=st.dictionaries(_TEXT, _JSON, max_size=3),
    started_at=st.none() | _WHEN,
    completed_at=st.none() | _WHEN,
    duration_seconds=_MAYBE_FLOAT,
    exit_code=st.none() | _I64,
    outputs=st.dictionaries(_TEXT, _JSON, max_size=3),
    errors=st.lists(_TEXT, max_size=2),
    warnings=st.lists(_TEXT, max_size=2),
    reason=st.none() | _TEXT,
    attempts=st.integers(0, 10**6),
    child_pid=st.none() | _I64,
    child_started=st.none() | _I64,
    signature=st.none() | _TEXT,
    started_at_epoch=_MAYBE_FLOAT,
    previous_attempts=st.lists(ATTEMPTS, max_size=2),
)


def _checkpoints(steps: st.SearchStrategy[int]) -> st.SearchStrategy[records.Checkpoint]:
    names = steps.flatmap(lambda n: st.lists(_TEXT, min_size=n, max_size=n))
    return _build(
        records.Checkpoint,
        version=st.just(models.FORMAT_VERSION) | st.just("1.0.0"),
        workflow_id=_TEXT,
        workflow=_TEXT,
        project_path=_TEXT,
        started_at=_WHEN,
        last_checkpoint=_WHEN,
        status=st.sampled_from(RunStatus),
        completed_steps=st.lists(st.integers(0, 10**4), max_size=5),
        current_step=st.none() | st.integers(0, 10**4),
        total_steps=st.just(0),  # set from the steps below
        steps=names,
        execution_mode=_build(
            records.ExecutionMode,
            auto=st.booleans(),
            smart_execution=st.booleans(),
            parallel=st.booleans(),
            dry_run=st.booleans(),
        ),
        smart_execution=_build(
            records.SmartExecution,
            enabled=st.booleans(),
            skipped_steps=st.lists(st.integers(0, 10**4), max_size=3),
            skip_reason=st.none() | _TEXT,
            reasons=st.dictionaries(_TEXT, _TEXT, max_size=2),
        ),
        parallel_execution=_build(
            records.ParallelExecution,
            enabled=st.booleans(),
            max_workers=st.none() | st.integers(1, 64),
            groups=st.lists(
                _build(
                    records.GroupState,
                    steps=st.lists(st.integers(0, 10**4), max_size=3),
                    status=st.sampled_from(
                        ["pending", "running", "completed", "failed", "interrupted"]
                    ),
                ),
                max_size=2,
            ),
        ),
        environment=st.dictionaries(_TEXT, _JSON, max_size=2),
        metadata=_build(records.Metadata, user=_TEXT, hostname=_TEXT, pid=_I64),
        options=st.dictionaries(_TEXT, _JSON, max_size=2),
        durations=st.dictionaries(_TEXT, _FINITE, max_size=3),
        vars=st.dictionaries(_TEXT, _JSON, max_size=2),
        warnings=st.lists(_TEXT, max_size=2),
        finished_at=st.none() | _WHEN,
        run_key=st.none() | _TEXT,
        started_at_epoch=_MAYBE_FLOAT,
    ).map(_counted)


def _counted(cp: records.Checkpoint) -> records.Checkpoint:
    cp.total_steps = len(cp.steps)
    return cp


def _order(value: Any) -> Any:
    """Every object's keys in order, nested: ``==`` on dicts ignores it."""
    if isinstance(value, dict):
        return [(k, _order(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_order(v) for v in value]
    return value


def _agrees(data: bytes, model: type[BaseModel], *, growing_last: bool = False) -> None:
    """The model reads ``data`` as exactly the document it holds, keys in the same order."""
    written = json.loads(data)
    dumped = model.model_validate_json(data).model_dump(mode="json")
    assert dumped == written
    if growing_last:  # the compact checkpoint.json writes the growing fields last
        dumped = {k: v for k, v in dumped.items() if k not in GROWING} | {
            k: dumped[k] for k in GROWING
        }
    assert _order(dumped) == _order(written)


def _finite_only(doc: Any) -> bool:
    return not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(doc))


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    if isinstance(value, Record):
        return _leaves({name: getattr(value, name) for name in value.FIELDS})
    return [value]


@settings(max_examples=150, deadline=None)
@given(STATES)
def test_state_files_read_back_by_the_model(state: records.StepState) -> None:
    data = state.to_json()
    assert data.endswith(b"}\n") and data.startswith(b'{\n  "step": ')
    _agrees(data, models.StepState)
    # And the run reads it back as it was (a non-finite float came back as null).
    again = records.StepState.from_doc(load_state(data, "s"))
    assert again.to_json() == data
    if _finite_only(state):
        assert again == state


@settings(max_examples=100, deadline=None)
@given(_checkpoints(st.integers(0, 100)))
def test_small_checkpoints_read_back_by_the_model(cp: records.Checkpoint) -> None:
    data = cp.to_json()
    assert data.startswith(b'{\n  "version": ')  # pretty, for people
    _agrees(data, models.Checkpoint)
    again = records.Checkpoint.from_doc(load_checkpoint(data, "c"))
    assert again.to_json() == data
    if _finite_only(cp):
        assert again == cp


@settings(max_examples=30, deadline=None)
@given(_checkpoints(st.integers(101, 130)))
def test_big_checkpoints_read_back_by_the_model(cp: records.Checkpoint) -> None:
    data = cp.to_json()
    assert b"\n" not in data[:-1]  # compact
    _agrees(data, models.Checkpoint, growing_last=True)
    assert records.Checkpoint.from_doc(load_checkpoint(data, "c")).to_json() == data


_EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("complete"), st.integers(0, 199), st.floats(0, 1e6)),
        st.tuples(st.just("uncomplete"), st.integers(0, 199), st.just(0.0)),
        st.tuples(st.just("rename"), st.integers(0, 199), st.just(0.0)),
        st.tuples(st.just("warn"), st.integers(0, 199), st.just(0.0)),
    ),
    max_size=60,
)


def _big_checkpoint(n: int) -> records.Checkpoint:
    now = utcnow()
    return records.Checkpoint(
        workflow_id="w_20260101_000000",
        workflow="w",
        project_path="/p",
        started_at=now,
        last_checkpoint=now,
        total_steps=n,
        steps=[f"step-{i}" for i in range(n)],
        metadata=records.metadata(),
    )


@settings(max_examples=60, deadline=None)
@given(_EDITS)
def test_incremental_encoding_matches_the_model(edits: list[tuple[str, int, float]]) -> None:
    """Successive writes of a big run, with appends, changes and removals in between: each
    time the model reads the bytes as the document they hold, and as a fresh encoding."""
    cp = _big_checkpoint(200)
    for op, step, seconds in edits:
        name = cp.steps[step]
        if op == "complete":
            if step not in cp.completed_steps:
                cp.completed_steps.append(step)
            cp.durations[name] = seconds
        elif op == "uncomplete":
            cp.completed_steps = [s for s in cp.completed_steps if s != step]
            cp.durations.pop(name, None)
        elif op == "rename":
            cp.steps[step] = name + "'"
        else:
            cp.warnings.append(f"warning {step}")
        data = cp.to_json()
        _agrees(data, models.Checkpoint, growing_last=True)
        fresh = records.Checkpoint.from_doc(json.loads(data))
        assert fresh.to_json() == data


def test_small_checkpoints_stay_pretty() -> None:
    assert b'\n  "steps": [' in _big_checkpoint(100).to_json()
    assert b"\n " not in _big_checkpoint(101).to_json()


_LINE = _TEXT.filter(lambda s: s == "".join(s.splitlines()))
MARKERS = _build(
    records.Marker,
    STEP=st.integers(0, 10**6),
    NAME=_LINE,
    COMPLETED_AT=_WHEN,
    DURATION_SECONDS=st.floats(0, 1e9),
    EXIT_CODE=st.just(0),
)


@settings(max_examples=150, deadline=None)
@given(MARKERS)
def test_markers_read_back_by_the_model(marker: records.Marker) -> None:
    text = marker.to_text()
    as_model = models.Marker(**{name: getattr(marker, name) for name in marker.FIELDS})
    assert text == as_model.to_text()
    read = models.Marker.from_text(text, source="m")
    rounded = records.Marker(
        STEP=marker.STEP,
        NAME=marker.NAME,
        COMPLETED_AT=marker.COMPLETED_AT,
        DURATION_SECONDS=float(f"{marker.DURATION_SECONDS:.3f}"),
    )
    assert read.model_dump(mode="json") == rounded.to_dict()
    assert records.Marker.from_doc(load_marker(text, "m")) == rounded


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_TEXT, _JSON, max_size=6))
def test_pretty_is_json_dumps_indented(doc: dict[str, Any]) -> None:
    """The state file's own indenter writes what ``json.dumps(indent=2)`` writes."""
    expected = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    assert pretty(doc) == expected.encode()


# -- reading: a document the fast check refuses is the model's to judge ----------------------


def test_a_coerced_document_becomes_the_record_the_model_makes() -> None:
    doc = json.loads(
        records.StepState(step=3, name="a", status=StepStatus.COMPLETED, exit_code=0).to_json()
    )
    doc["exit_code"] = "0"  # the fast check refuses a string; the model coerces it
    doc["duration_seconds"] = 2  # an integer is a float here
    doc["plugin_note"] = {"a": [1]}
    state = records.StepState.from_doc(load_state(json.dumps(doc).encode(), "s"))
    assert state.exit_code == 0 and state.duration_seconds == 2.0
    assert isinstance(state.duration_seconds, float)
    assert state.extra == {"plugin_note": {"a": [1]}}
    assert json.loads(state.to_json())["plugin_note"] == {"a": [1]}


def test_non_finite_floats_are_written_as_null_like_the_model() -> None:
    state = records.StepState(
        step=0,
        name="a",
        status=StepStatus.FAILED,
        duration_seconds=math.inf,
        started_at_epoch=math.nan,
    )
    model = models.StepState(
        step=0,
        name="a",
        status=StepStatus.FAILED,
        duration_seconds=math.inf,
        started_at_epoch=math.nan,
    )
    assert json.loads(state.to_json()) == json.loads(model.to_json())
    assert json.loads(state.to_json())["duration_seconds"] is None


def test_timestamps_are_utc_seconds_like_the_model() -> None:
    from datetime import timedelta

    local = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    state = records.StepState(step=0, name="a", status=StepStatus.RUNNING, started_at=local)
    model = models.StepState(step=0, name="a", status=StepStatus.RUNNING, started_at=local)
    assert json.loads(state.to_json())["started_at"] == "2026-01-02T01:04:05Z"
    assert json.loads(state.to_json()) == json.loads(model.to_json())


def test_a_resume_reads_files_only_the_model_accepts_and_keeps_unknown_keys(
    project: Project,
) -> None:
    """A file the fast check refuses (a number written as a string) is the model's to judge:
    it accepts it, and the run goes on with what it read; unknown keys survive the rewrite."""
    project.use("fast_steps")
    (project.root / "fail").touch()
    assert project.invoke("workflow").code == 3
    (project.root / "fail").unlink()
    run = project.only_run()
    state_path = run / "state" / "step_01_state.json"
    state = json.loads(state_path.read_text())
    state["exit_code"] = "3"
    state_path.write_text(json.dumps(state))
    cp_path = run / "checkpoint.json"
    cp = json.loads(cp_path.read_text())
    cp["total_steps"] = "3"
    cp["from_a_plugin"] = {"kept": [1, 2]}
    cp["execution_mode"]["newer_key"] = True
    cp_path.write_text(json.dumps(cp))
    resumed = project.invoke("workflow", "--resume")
    assert resumed.code == 0, resumed.err
    assert log_lines(project) == ["lint", "test", "test", "docs"]
    attempts = project.state(run, 1)["previous_attempts"]
    assert [(a["status"], a["exit_code"]) for a in attempts] == [("failed", 3)]
    cp = project.checkpoint(run)
    assert cp["total_steps"] == 3 and cp["status"] == "completed"
    assert cp["from_a_plugin"] == {"kept": [1, 2]}
    assert cp["execution_mode"]["newer_key"] is True


# -- the public StepState ---------------------------------------------------------------------


def test_the_public_step_state_is_the_record_and_imports_no_pydantic() -> None:
    code = (
        "import sys\n"
        "from invoke_checkpoints import StepState\n"
        "print(StepState.__module__, StepState.__name__, 'pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["invoke_checkpoints.store.records", "StepState", "False"]


PLUGIN = """
from __future__ import annotations

from typing import TYPE_CHECKING

from invoke_checkpoints import hookimpl

if TYPE_CHECKING:
    from invoke_checkpoints import RunInfo, StepInfo, StepState


@hookimpl
def checkpoints_step_complete(run: RunInfo, step: StepInfo, state: StepState) -> None:
    took: float = state.duration_seconds or 0.0
    again = run.state_of(step.number)
    print(took, state.status.value, state.to_dict()["step"], again and again.attempts)
    print(state.no_such_field)
"""


def test_step_state_is_typed_for_a_plugin_without_reading_pydantic(tmp_path: Path) -> None:
    """mypy --strict on a plugin sees StepState's fields (it was Any) and never reads pydantic."""
    (tmp_path / "plugin.py").write_text(PLUGIN)
    proc = subprocess.run(
        [
            sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--verbose",
            "plugin.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, proc.stdout
    assert 'plugin.py:17: error: "StepState" has no attribute "no_such_field"' in errors[0]
    assert "pydantic" not in proc.stderr
    assert "invoke_checkpoints/store/records.py" in proc.stderr
