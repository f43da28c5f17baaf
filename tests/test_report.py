"""``invoke <workflow>.report``: the attempts it needs are recorded (format 1.1), the HTML is
self-contained and escaped, and the flags do what they say. In a real browser:
``test_report_browser.py``."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
from html.parser import HTMLParser
from pathlib import Path

import pytest

from invoke_checkpoints.cli.report_svg import GAP_WIDTH, TimeScale

from .conftest import Project, wait_for
from .remote_support import BUCKET, Machine, have_s3, new_prefix, s3_server
from .test_compat import FAILED, FIXTURE


class Page(HTMLParser):
    """Every tag with its attributes, and the text, of an HTML document."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)

    def bars(self) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == "rect" and "attempt" in (a.get("class") or "")]


def failed_then_resumed(project: Project, **env: str) -> Path:
    """The report fixture run: wheel fails, the resume completes it."""
    project.use("report")
    first = project.run("release", env=env)
    assert first.code == 4, first.err
    again = project.run("release", "--resume", env=env)
    assert again.code == 0, again.err
    return project.only_run("release")


def report(project: Project, *argv: str, env: dict[str, str] | None = None) -> Path:
    outcome = project.invoke("release.report", *argv, env=env)
    assert outcome.code == 0, outcome.err
    path = Path(outcome.out.strip().splitlines()[-1])
    assert path.is_file()
    return path


def test_attempts_and_sub_second_starts_are_recorded(project: Project) -> None:
    """Format 1.1: the failed attempt survives the resume inside the step's state file, and
    start times carry sub-second precision; the version says 1.1.0."""
    run = failed_then_resumed(project)
    cp = project.checkpoint(run)
    assert cp["version"] == "1.1.0"
    assert isinstance(cp["started_at_epoch"], float)
    wheel = project.state(run, 2)
    assert (wheel["status"], wheel["attempts"]) == ("completed", 2)
    (earlier,) = wheel["previous_attempts"]
    assert (earlier["status"], earlier["exit_code"]) == ("failed", 4)
    assert "<compiler> & linker broke" in earlier["error"]
    assert earlier["duration_seconds"] >= 0.2
    assert earlier["started_at_epoch"] < wheel["started_at_epoch"]
    starts = [project.state(run, n)["started_at_epoch"] for n in range(3)]
    assert all(s % 1 for s in starts), starts  # not whole seconds
    # Steps that ran once carry no earlier attempts.
    assert project.state(run, 0)["previous_attempts"] == []
    assert sorted(p.name for p in (run / "state").iterdir()) == [
        f"step_0{n}_state.json" for n in range(3)
    ]


def test_a_killed_attempt_is_kept_as_interrupted(project: Project) -> None:
    """SIGKILL during a step leaves its state `running`; the resume keeps it as an interrupted
    attempt, and the report shows it before the completing one."""
    project.use("sleepy")
    proc = project.popen("workflow", env={"HOLD": "1"})
    wait_for((project.root / "started").exists)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert project.run("workflow", "--resume").code == 0
    state = project.state(project.only_run(), 1)
    assert [a["status"] for a in state["previous_attempts"]] == ["interrupted"]
    assert state["attempts"] == 2
    out = project.invoke("workflow.report")
    page = Page(Path(out.out.strip()).read_text())
    slow = [b for b in page.bars() if b["data-step"] == "1"]
    assert [b["class"] for b in slow] == ["attempt interrupted", "attempt completed on-path"]


def test_report_structure(project: Project) -> None:
    """Parses; one bar per attempt in step order; every step and the failure's error text are
    in it; nothing outside the page is referenced."""
    failed_then_resumed(project)
    path = report(project)
    assert path == project.store / "release-report.html"
    html = path.read_text()
    page = Page(html)
    bars = page.bars()
    assert [(b["data-step"], b["data-attempt"]) for b in bars] == [
        ("0", "1"),
        ("1", "1"),
        ("2", "1"),
        ("2", "2"),
    ]
    assert [b["class"] for b in bars] == [
        "attempt completed on-path",
        "attempt completed",
        "attempt failed",
        "attempt completed on-path",
    ]
    text = "".join(page.text)
    for name in ("prepare", "docs", "wheel"):
        assert name in text
    assert "exit code 4" in text
    assert "wheel: <compiler> & linker broke" in text
    assert_self_contained(page, html)


def assert_self_contained(page: Page, html: str) -> None:
    """No script, no embedded object, no reference outside the document."""
    assert not {t for t, _ in page.tags} & {"script", "iframe", "object", "embed", "link", "img"}
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert name not in ("src", "srcset", "xlink:href", "action"), (tag, name, value)
            if name == "href":
                assert value and value.startswith("#"), (tag, value)
            assert not name.startswith("on"), (tag, name)
    assert "url(" not in "".join(page.styles)
    assert "@import" not in html
    assert "url(" not in re.sub(r"<pre>.*?</pre>|<title>.*?</title>", "", html, flags=re.S)


def test_special_characters_are_shown_as_text(project: Project) -> None:
    """A step named <script>alert(1)</script> is text in the page, never markup."""
    name = "<script>alert(1)</script>"
    failed_then_resumed(project, NAME=name)
    html = report(project).read_text()
    page = Page(html)
    assert "script" not in {t for t, _ in page.tags}
    assert name in "".join(page.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_self_contained(page, html)


def test_run_output_and_open(project: Project, tmp_path: Path) -> None:
    """--run picks the run, --output the file (its path is printed), --open hands the file's
    URL to the browser ($BROWSER)."""
    run = failed_then_resumed(project)
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    browser.chmod(0o755)
    target = tmp_path / "out" / "r.html"
    target.parent.mkdir()
    path = report(
        project, f"--run={run.name}", f"--output={target}", "--open", env={"BROWSER": str(browser)}
    )
    assert path == target
    assert f"run {run.name}" in target.read_text()
    wait_for(seen.exists)
    assert seen.read_text().strip() == target.as_uri()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # like the store: it holds errors
    assert not (project.store / "release-report.html").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--run=workflow_20990101_000000", "--last=2"], "--run and --last contradict"),
        (["--last=0"], "--last must be >= 1"),
        (["--run=workflow_20990101_000000"], "no run 'workflow_20990101_000000'"),
        (["--run=nope"], "invalid run id 'nope'"),
        (["--output=/nonexistent/dir/r.html"], "is not a directory"),
    ],
    ids=["run-and-last", "last-zero", "unknown-run", "bad-run-id", "bad-output"],
)
def test_mistakes_are_one_line(project: Project, argv: list[str], message: str) -> None:
    """Each mistake: exit 2, one line naming it, nothing written."""
    project.use("fast_steps")
    assert project.invoke("workflow").code == 0
    before = project.snapshot()
    outcome = project.invoke("workflow.report", *argv)
    assert outcome.code == 2, outcome
    assert message in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1
    assert project.snapshot() == before


def test_no_runs_yet(project: Project) -> None:
    """Nothing to report: exit 2, and no store is created for it."""
    project.use("fast_steps")
    outcome = project.invoke("workflow.report")
    assert outcome.code == 2
    assert "no run of workflow 'workflow'" in outcome.err
    assert not project.store.exists()


def test_last_runs_show_trends(project: Project) -> None:
    """--last=N: a duration bar per run (oldest first), each step's durations across them,
    and each run's timeline, newest first."""
    project.use("fast_steps")
    (project.root / "fail").touch()
    assert project.run("workflow").code == 3
    (project.root / "fail").unlink()
    for _ in range(2):
        assert project.run("workflow").code == 0
    runs = [r.name for r in project.runs()]
    assert len(runs) == 3
    outcome = project.invoke("workflow.report", "--last=5")
    assert outcome.code == 0, outcome.err
    path = project.store / "workflow-report.html"
    assert outcome.out.strip() == str(path)
    page = Page(path.read_text())
    per_run = [a for t, a in page.tags if t == "rect" and a.get("data-run")]
    assert [a["data-run"] for a in per_run] == runs
    assert [a["class"] for a in per_run] == [
        "attempt failed",
        "attempt completed",
        "attempt completed",
    ]
    sections = [a["id"] for t, a in page.tags if t == "section"]
    assert sections == runs[::-1]
    text = "".join(page.text)
    assert "Across the last 3 runs" in text
    sparks = [a for t, a in page.tags if t == "svg" and a.get("class") == "spark"]
    assert len(sparks) == 3  # lint, test, docs
    assert_self_contained(page, path.read_text())


def test_a_1_0_0_run_shows_what_it_has(project: Project, tmp_path: Path) -> None:
    """A run written by format 1.0.0 (no sub-second starts, no earlier attempts) is reported
    from what it has, and reading it changes nothing in the store."""
    shutil.copy(FIXTURE / "tasks.py", project.root / "tasks.py")
    shutil.copytree(FIXTURE / "store", project.store)
    before = project.snapshot()
    out = tmp_path / "old.html"
    outcome = project.invoke("pipeline.report", f"--run={FAILED}", f"--output={out}")
    assert outcome.code == 0, outcome.err
    assert project.snapshot() == before
    page = Page(out.read_text())
    bars = page.bars()
    assert [b["data-step"] for b in bars] == ["0", "1", "2", "3"]
    assert bars[-1]["class"] == "attempt failed on-path"
    text = "".join(page.text)
    assert "Written in format 1.0.0" in text
    assert "deploy broke" in text
    assert "exit code 3" in text


def _many_steps(project: Project, count: int) -> None:
    project.write(
        f"""
        from invoke import Collection, task
        from invoke_checkpoints import Step, workflow

        @task
        def noop(c):
            pass

        ns = Collection(noop)
        ns.add_collection(workflow(*[Step(noop, name=f"step-{{i}}") for i in range({count})]))
        """
    )
    assert project.run("workflow", "--quiet", timeout=300).code == 0


def test_100_steps_stay_small(project: Project) -> None:
    """The target: under 200 KB for 100 steps (every step in the timeline and the table)."""
    _many_steps(project, 100)
    path = Path(project.invoke("workflow.report").out.strip())
    size = path.stat().st_size
    assert size < 200_000, size
    page = Page(path.read_text())
    assert len(page.bars()) == 100
    assert {f"step-{i}" for i in range(100)} <= set("".join(page.text).split())


def test_time_scale_cuts_idle_stretches() -> None:
    """A resume an hour later is a narrow break; the active stretches keep their proportions."""
    scale = TimeScale([(0.0, 2.0), (3600.0, 3604.0)], origin=0.0, width=600)
    assert scale.breaks == [(2.0, 3600.0)]
    assert scale.width == pytest.approx(600)
    first, second = scale.x(2.0) - scale.x(0.0), scale.x(3604.0) - scale.x(3600.0)
    assert second == pytest.approx(2 * first)
    assert scale.x(3600.0) - scale.x(2.0) == pytest.approx(GAP_WIDTH)
    # Short pauses are drawn to scale.
    assert TimeScale([(0.0, 2.0), (2.5, 4.0)], origin=0.0, width=600).breaks == []


def test_status_json_keys_unchanged(project: Project) -> None:
    """The report's new fields stay out of the status document (a public contract); the step
    metadata of the plugin platform (tags, meta, group) is added to it."""
    failed_then_resumed(project)
    doc = json.loads(project.invoke("release.status", "--json").out)
    assert set(doc["steps"][2]) == {
        "number",
        "name",
        "status",
        "duration_seconds",
        "exit_code",
        "reason",
        "error",
        "tags",
        "meta",
        "group",
    }


@pytest.mark.skipif(not have_s3(), reason="needs the s3 and test extras (obstore, moto)")
def test_report_of_a_run_in_a_remote_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """checkpoints.dir=s3://...: the runs are read from the bucket, the report is a local file
    (default: .checkpoints/<workflow>-report.html beside tasks.py)."""
    with s3_server() as server:
        machine = Machine(tmp_path / "a", monkeypatch, server, f"s3://{BUCKET}/{new_prefix()}")
        try:
            assert machine.run("workflow", env={"MIDDLE": "fail"}).code == 3
            outcome = machine.run("workflow.report")
            assert outcome.code == 0, outcome.err
            path = Path(outcome.out.strip())
            assert path == machine.root / ".checkpoints" / "workflow-report.html"
            bars = Page(path.read_text()).bars()
            assert [(b["data-step"], b["class"]) for b in bars] == [
                ("0", "attempt completed on-path"),
                ("1", "attempt failed on-path"),
            ]
        finally:
            machine.reap()
