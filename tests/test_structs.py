"""``store/structs.py``'s ``record`` makes what ``dataclasses.dataclass`` makes, without compiling
anything: the options (``kw_only``, ``frozen``, ``eq``, ``slots``), ``field``, ``replace``; and the
public classes built with it (``RunInfo``, ``StepInfo``, ``RunOptions``) behave as the
dataclasses they were, for a plugin and its tests."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from invoke import Task

from invoke_checkpoints import RunInfo, RunOptions, StepInfo
from invoke_checkpoints.plugins.fingerprint import Fingerprint
from invoke_checkpoints.run.resolve import Decision, Request
from invoke_checkpoints.store.maintenance import CleanPlan, RunSummary
from invoke_checkpoints.store.structs import field, record, replace

from .conftest import Project

# -- the options, each against a dataclass made with the same ones ---------------------------


@record
class Keywords:
    a: int
    b: list[int] = field(default_factory=list)


@record(kw_only=False)
class Positional:
    a: int
    b: str = "b"
    c: list[int] = field(default_factory=list)
    d: int | None = field(default=None, repr=False)


@record(kw_only=False, frozen=True)
class Frozen:
    a: int
    b: str = "b"


@record(kw_only=False, eq=False, slots=False)
class Open:
    a: int
    b: dict[str, Any] = field(default_factory=dict)


@dataclasses.dataclass
class PositionalTwin:
    a: int
    b: str = "b"
    c: list[int] = dataclasses.field(default_factory=list)
    d: int | None = dataclasses.field(default=None, repr=False)


def test_kw_only_is_the_default_and_false_takes_arguments_in_field_order() -> None:
    with pytest.raises(TypeError, match="positional"):
        Keywords(1)  # type: ignore[call-arg]  # what the test checks
    assert Keywords(a=1).a == 1
    made = Positional(1, "x", [2], 3)
    assert (made.a, made.b, made.c, made.d) == (1, "x", [2], 3)
    assert Positional(1, c=[4]).c == [4]
    assert Positional.__match_args__ == ("a", "b", "c", "d")


def test_defaults_and_factories_as_a_dataclass() -> None:
    one, two = Positional(1), Positional(1)
    assert (one.b, one.c, one.d) == ("b", [], None)
    one.c.append(1)
    assert two.c == []  # a factory's default is made afresh
    assert repr(Positional(1, "x", [2], 3)) == repr(PositionalTwin(1, "x", [2], 3)).replace(
        "PositionalTwin", "Positional"
    )  # ``repr=False`` left out


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "missing required argument: 'a'"),
        ((1, "x", [], 3, 4), {}, "takes 4 positional arguments but 5 were given"),
        ((1,), {"a": 2}, "multiple values for argument 'a'"),
        ((1,), {"e": 2}, "unexpected keyword argument 'e'"),
        ((1, "x", [], 3, 4), {"e": 2}, "takes 4 positional arguments"),
    ],
)
def test_wrong_arguments_raise_type_error(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        Positional(*args, **kwargs)
    with pytest.raises(TypeError):
        PositionalTwin(*args, **kwargs)  # as a dataclass refuses it


def test_frozen_refuses_assignment_and_deletion_and_hashes_by_value() -> None:
    frozen = Frozen(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.a = 2  # type: ignore[misc]  # what the test checks
    with pytest.raises(dataclasses.FrozenInstanceError):
        del frozen.b
    assert frozen.a == 1
    assert frozen == Frozen(1) and frozen != Frozen(1, "c")
    assert hash(frozen) == hash(Frozen(1)) and {frozen: 1}[Frozen(1)] == 1
    # copy and pickle restore a frozen (slotted) record despite its refusal to assign
    assert copy.deepcopy(frozen) == frozen
    assert pickle.loads(pickle.dumps(frozen)) == frozen


def test_not_frozen_is_mutable_and_unhashable_with_eq() -> None:
    made = Positional(1)
    made.a = 2
    assert made == Positional(2) and made.__eq__(PositionalTwin(2)) is NotImplemented
    with pytest.raises(TypeError, match="unhashable"):
        hash(made)


def test_eq_false_is_identity() -> None:
    one, two = Open(1), Open(1)
    assert one != two and one == one  # noqa: PLR0124  # identity is the point
    assert hash(one) == object.__hash__(one)


def test_slots_false_keeps_a_dict_for_other_attributes() -> None:
    made = Open(1)
    made.mine = "x"  # type: ignore[attr-defined]  # a third party's own attribute
    assert vars(made) == {"a": 1, "b": {}, "mine": "x"}
    slotted = Positional(1)
    with pytest.raises(AttributeError):
        slotted.mine = "x"  # type: ignore[attr-defined]  # what the test checks


def test_replace_as_dataclasses_replace() -> None:
    frozen = Frozen(1, "x")
    changed = replace(frozen, a=2)
    assert changed == Frozen(2, "x") and frozen == Frozen(1, "x")
    lists = Positional(1, c=[1])
    assert replace(lists, b="y") == Positional(1, "y", [1])
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        replace(frozen, z=1)
    with pytest.raises(TypeError, match="takes a record"):
        replace(PositionalTwin(1), a=2)
    if sys.version_info >= (3, 13):
        assert copy.replace(frozen, a=3) == Frozen(3, "x")  # type: ignore[attr-defined]  # 3.13


# -- the classes a run and its plugins share -------------------------------------------------


def test_run_info_is_built_positionally_as_plugin_tests_do() -> None:
    run = RunInfo("wf_20260101_000000", "wf", None, ("lint",))
    assert (run.workflow_id, run.name, run.path, run.steps) == (
        "wf_20260101_000000",
        "wf",
        None,
        ("lint",),
    )
    assert run.status == "running" and run.vars == {} and run.options == RunOptions()
    assert run.enabled and not run.dry
    assert run != RunInfo("wf_20260101_000000", "wf", None, ("lint",))  # eq=False, as before
    shown = repr(run)
    assert shown.startswith("RunInfo(workflow_id='wf_20260101_000000', name='wf'")
    assert "_dir" not in shown and "_plugin_config" not in shown


def test_run_options_are_frozen_and_equal_by_value() -> None:
    options = RunOptions(smart=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.smart = True  # type: ignore[misc]  # what the test checks
    assert options == RunOptions(False, False) and options != RunOptions()
    assert len({options, RunOptions(smart=False)}) == 1
    assert replace(options, dry_run=True).dry_run and not options.dry_run
    assert repr(RunOptions()) == (
        "RunOptions(parallel=False, smart=True, max_workers=None, dry_run=False, resume=False,"
        " rerun_from=None)"
    )


def _lint(c: Any) -> None:
    """A task for the StepInfo below."""


lint: Task[Any] = Task(_lint)


def test_a_plugin_sets_its_own_attribute_on_a_step_info() -> None:
    run = RunInfo("wf_20260101_000000", "wf", None, ("lint",))
    step = StepInfo(0, "lint", lint, run)
    step.started_by_my_plugin = 1.5  # type: ignore[attr-defined]  # as a plugin may
    assert step.started_by_my_plugin == 1.5  # type: ignore[attr-defined]
    assert (step.args, step.inputs, step.tags, step.meta, step.group) == (
        {},
        (),
        frozenset(),
        {},
        None,
    )
    run.my_plugin_state = []  # type: ignore[attr-defined]  # on the run as well


PLUGIN_TASKS = """
from invoke import Collection, task
from invoke_checkpoints import hookimpl, workflow

class Stamp:
    @hookimpl
    def checkpoints_step_start(self, run, step):
        step.stamp = "started " + step.name
        run.seen = getattr(run, "seen", 0) + 1

    @hookimpl
    def checkpoints_step_complete(self, run, step, state):
        print(step.stamp, run.seen)

@task
def lint(c):
    pass

@task
def test(c):
    pass

ns = Collection()
ns.add_collection(workflow(lint, test, plugins=[Stamp()]))
"""


def test_a_plugin_keeps_its_attribute_on_the_step_it_receives(project: Project) -> None:
    """A run hands its plugins the same StepInfo from start to completion; an attribute a
    plugin sets on it (and on the RunInfo) is still there."""
    project.write(textwrap.dedent(PLUGIN_TASKS))
    outcome = project.invoke("workflow")
    assert outcome.code == 0, outcome.err
    assert "started lint 1" in outcome.out and "started test 2" in outcome.out


def test_the_other_classes_keep_their_constructors() -> None:
    fp = Fingerprint.of({"a": "1"}, "args", "code")
    assert fp == Fingerprint({"a": "1"}, "args", "code", fp.digest) and len(fp.digest) == 64
    with pytest.raises(dataclasses.FrozenInstanceError):
        fp.digest = ""  # type: ignore[misc]  # what the test checks
    request = Request(True, "wf_1")
    assert replace(request, run_key="k") == Request(True, "wf_1", run_key="k")
    decision = Decision(RunOptions(), None, None, 3)
    assert decision.rerun_from == 3 and decision.done == frozenset() and decision.states == {}
    assert CleanPlan(["a"], None, 0) == CleanPlan(["a"], None, 0)


def test_a_run_summary_is_listed_as_its_fields_in_order() -> None:
    """``list --json``: each run is the summary's fields in order, as ``dataclasses.asdict``
    wrote them."""
    row = RunSummary("wf_1", "completed", "2026-01-01T00:00:00Z", None, 1.5, 2, 3, 4)
    twin = dataclasses.make_dataclass(
        "Twin", [(name, Any) for name in RunSummary.FIELDS], namespace={}
    )(*(getattr(row, name) for name in RunSummary.FIELDS))
    assert json.dumps(row.to_dict()) == json.dumps(dataclasses.asdict(twin))
    assert list(row.to_dict()) == [
        "run_id", "status", "started_at", "finished_at", "duration_seconds", "completed",
        "total", "size_bytes", "reason",
    ]  # fmt: skip


# -- what mypy reads ----------------------------------------------------------------------------

TYPED = """
from invoke_checkpoints import RunInfo, RunOptions, StepInfo
from invoke_checkpoints.store.records import StepState
from invoke_checkpoints.store.structs import replace

run = RunInfo("wf_20260101_000000", "wf", None, ("lint",))
options: RunOptions = replace(run.options, smart=False)
options.smart = True
RunInfo("wf", "wf", None, (), nope=1)
StepState(0, "lint")
"""


def test_mypy_reads_the_options(tmp_path: Path) -> None:
    """mypy --strict reads ``kw_only``, ``frozen`` and the fields (``dataclass_transform``)."""
    (tmp_path / "plugin.py").write_text(TYPED)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "plugin.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors][:3] == ["8", "9", "10"], proc.stdout
    assert 'Property "smart" defined in "RunOptions" is read-only' in errors[0]
    assert 'Unexpected keyword argument "nope" for "RunInfo"' in errors[1]
    assert 'Too many positional arguments for "StepState"' in proc.stdout
