"""The report in a real browser: Playwright driving Debian's chromium, offline.

Every request that is not ``file:`` is aborted, and every request the page makes is recorded:
a report that needed the network would show it. Screenshots go to the test's tmp_path, and to
``$REPORT_SCREENSHOTS`` when set (how docs/report-*.png are made, see docs/report.md).

Skipped with the reason when playwright or chromium is missing, except under CI (``$CI``), where
``.ci/run`` installs both and a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import Project
from .test_report import failed_then_resumed, report

if TYPE_CHECKING:
    from collections.abc import Iterator

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"


def _missing(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}; .ci/run installs it, so under CI it must be there")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _missing("no chromium on PATH (apt-get install -y chromium)")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


class Loaded:
    """A report open in a page that may not reach anything but ``file:`` URLs."""

    def __init__(self, browser: Any, path: Path, viewport: tuple[int, int] = (1200, 800)):
        self.requests: list[str] = []
        self.page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.route("**/*", self._route)
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    @staticmethod
    def _route(route: Any) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            route.abort()

    def boxes(self, selector: str) -> list[dict[str, float]]:
        found = [bar.bounding_box() for bar in self.page.locator(selector).all()]
        assert all(found)
        return found

    def screenshot(self, tmp_path: Path, name: str) -> Path:
        shot = tmp_path / name
        self.page.mouse.move(0, 0)  # no bar left hovered
        self.page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 1000
        keep = os.environ.get("REPORT_SCREENSHOTS")
        if keep:
            shutil.copy(shot, Path(keep) / name)
        return shot

    def close(self) -> None:
        assert self.requests, "the page made no request at all: was it loaded?"
        assert all(url.startswith("file:") for url in self.requests), self.requests
        self.page.close()


def test_parallel_group_with_failure_and_resume(
    project: Project, browser: Any, tmp_path: Path
) -> None:
    """prepare -> [docs, wheel]: four bars in step order, wheel's failed attempt then its
    completing one, widths in proportion to the recorded durations; the failed bar's hover
    text names the step, its exit code and its (escaped) error; nothing left the page."""
    run = failed_then_resumed(project)
    loaded = Loaded(browser, report(project))
    page = loaded.page
    bars = page.locator("rect.attempt")
    assert bars.count() == 4
    keys = [(b.get_attribute("data-step"), b.get_attribute("data-attempt")) for b in bars.all()]
    assert keys == [("0", "1"), ("1", "1"), ("2", "1"), ("2", "2")]
    prepare, docs, failed, wheel = loaded.boxes("rect.attempt")
    # One row per step, top to bottom; docs and wheel (a group) start together, after prepare.
    assert prepare["y"] < docs["y"] < failed["y"]
    assert wheel["y"] == pytest.approx(failed["y"], abs=1.5)  # its outline adds a pixel
    assert prepare["x"] + prepare["width"] <= docs["x"] + 3
    assert abs(docs["x"] - failed["x"]) < 5
    # The resume: a gap between the failed attempt and the completing one.
    assert failed["x"] + failed["width"] < wheel["x"]
    # Widths are in proportion to the durations on disk (no outline on these two bars).
    recorded = project.state(run, 1)["duration_seconds"]
    earlier = project.state(run, 2)["previous_attempts"][0]["duration_seconds"]
    assert docs["width"] / failed["width"] == pytest.approx(recorded / earlier, rel=0.05)
    # Critical path: prepare, then wheel (it ended the group), outlined.
    outlined = page.locator("rect.attempt.on-path")
    assert [b.get_attribute("data-step") for b in outlined.all()] == ["0", "2"]

    bad = page.locator("rect.attempt.failed")
    bad.hover()
    assert bad.evaluate("e => getComputedStyle(e).fillOpacity") == "0.75"
    title = bad.locator("title").text_content() or ""
    assert title.startswith("step 2 wheel — attempt 1 of 2\nfailed, exit code 4\n")
    assert "wheel: <compiler> & linker broke" in title
    shot = loaded.screenshot(tmp_path, "report-parallel.png")
    assert shot.is_file()
    loaded.close()


def test_quickstart_demo_report(browser: Any, tmp_path: Path) -> None:
    """examples/quickstart's demo ends by writing its report and printing the path; the report
    shows fetch, transform's failure and its completion, publish."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")}
    env["TMPDIR"] = str(tmp_path)
    env["INVOKE_CHECKPOINTS_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    demo = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(QUICKSTART), "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert demo.returncode == 0, demo.stderr
    path = Path(demo.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert path.name == "pipeline-report.html" and path.is_relative_to(tmp_path)
    loaded = Loaded(browser, path)
    bars = loaded.page.locator("rect.attempt")
    assert [b.get_attribute("class") for b in bars.all()] == [
        "attempt completed on-path",
        "attempt failed",
        "attempt completed on-path",
        "attempt completed on-path",
    ]
    assert "exit code 3" in (loaded.page.locator("rect.attempt.failed title").text_content() or "")
    loaded.screenshot(tmp_path, "report-quickstart.png")
    loaded.close()


def test_1000_steps_stay_readable(project: Project, browser: Any, tmp_path: Path) -> None:
    """1,000 steps: the timeline scrolls inside a box of bounded height under a sticky axis,
    one 20-pixel row per step with 12-pixel labels, instead of squeezing into a smear."""
    project.write(
        """
        from invoke import Collection, task
        from invoke_checkpoints import Step, workflow

        @task
        def noop(c):
            pass

        ns = Collection(noop)
        ns.add_collection(workflow(*[Step(noop, name=f"step-{i}") for i in range(1000)]))
        """
    )
    assert project.run("workflow", "--quiet", timeout=600).code == 0
    path = Path(project.invoke("workflow.report").out.strip())
    loaded = Loaded(browser, path)
    page = loaded.page
    assert page.locator("rect.attempt").count() == 1000
    box = page.locator(".scroll").first
    client, scroll = box.evaluate("e => [e.clientHeight, e.scrollHeight]")
    assert client <= 0.7 * 800 + 1 < 1000 * 20 <= scroll
    labels = page.locator(".gantt > text")
    first, second = labels.nth(0).bounding_box(), labels.nth(1).bounding_box()
    assert second["y"] - first["y"] == pytest.approx(20, abs=0.5)
    size = page.locator(".gantt > text").first.evaluate("e => getComputedStyle(e).fontSize")
    assert size == "12px"
    # Scrolled to the end, the axis is still on top and the last row is in view.
    box.evaluate("e => e.scrollTo(0, e.scrollHeight)")
    axis = page.locator(".axis").first.bounding_box()
    last = page.locator("rect.attempt").last.bounding_box()
    frame = box.bounding_box()
    assert frame["y"] - 1 <= axis["y"] <= frame["y"] + 2
    assert frame["y"] < last["y"] < frame["y"] + frame["height"]
    loaded.screenshot(tmp_path, "report-1000-steps.png")
    loaded.close()


def test_trends_across_runs(project: Project, browser: Any, tmp_path: Path) -> None:
    """--last=3: one bar per run, oldest left, as tall as the run was long; the step that got
    slower is flagged; the newest run's timeline is open, the others folded."""
    failed_then_resumed(project)
    assert project.run("release").code == 0
    assert project.run("release", env={"DOCS_SECONDS": "1.6"}).code == 0
    runs = [r.name for r in project.runs("release")]
    loaded = Loaded(browser, report(project, "--last=3"))
    page = loaded.page
    bars = page.locator("svg.runs rect.attempt")
    assert [b.get_attribute("data-run") for b in bars.all()] == runs
    heights = [b["height"] for b in loaded.boxes("svg.runs rect.attempt")]
    assert heights[2] > heights[1]  # the third run's docs step took 0.7 s more
    slower = page.locator("td.slower")
    assert slower.count() == 1
    row = slower.locator("xpath=..").locator("td").first.text_content()
    assert row == "docs"
    opened = page.locator("details[open] > summary")
    assert (opened.first.text_content() or "").startswith(f"run {runs[-1]}")
    loaded.screenshot(tmp_path, "report-trends.png")
    loaded.close()
