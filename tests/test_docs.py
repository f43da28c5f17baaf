"""The docs stay true: every marked example of README.md, docs/ and examples/ runs as written
(tests/doctest_md.py says how a block is marked), and docs/index.md maps every page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from . import doctest_md
from .doctest_md import ROOT, Session

DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *ROOT.glob("examples/*/*.md")])
SESSIONS = doctest_md.sessions(DOCS)


@pytest.mark.parametrize("session", SESSIONS, ids=[s.id for s in SESSIONS])
def test_documented_transcript(session: Session, tmp_path: Path) -> None:
    directory = tmp_path / "project"
    directory.mkdir()
    doctest_md.run_session(session, directory)


def test_the_readme_runs_its_first_example_and_documents_each_example() -> None:
    """The README's tasks.py and its fail / status / resume transcript are executed, and every
    example directory has executed documentation."""
    readme = [s for s in SESSIONS if s.doc.name == "README.md" and s.doc.parent == ROOT]
    assert readme, "the README's first example is not marked as a doctest"
    files = [b.file for s in readme for b in s.blocks if b.file]
    assert "tasks.py" in files
    transcripts = [b for s in readme for b in s.blocks if not b.file]
    commands = [command for b in transcripts for command, _ in doctest_md.commands(b)]
    assert {"invoke workflow", "invoke workflow.status", "invoke workflow --resume"} <= set(
        commands
    )
    covered = {s.doc.parent.name for s in SESSIONS if s.doc.parent.parent.name == "examples"}
    covered |= {b.copy.split("/")[1] for s in SESSIONS for b in s.blocks if b.copy}
    # Example projects (a tasks.py); the example plugin packages are installed and tested by
    # tests/test_examples.py (notify) and their own tests (collected by pytest).
    projects = {p.parent.name for p in (ROOT / "examples").glob("*/tasks.py")}
    # release_project: its README walkthrough runs in tests/test_examples.py.
    assert projects - covered <= {"release_project"}, projects - covered


def test_docs_index_maps_every_page() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(([\w.-]+\.md)(?:#[\w-]+)?\)", index))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert pages <= linked, f"docs/index.md does not list {sorted(pages - linked)}"
    assert linked <= pages | {"index.md"}, f"docs/index.md links missing {linked - pages}"


def test_relative_links_resolve() -> None:
    """A relative link in the README or a doc page names a file that exists."""
    broken = []
    for doc in DOCS:
        text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_package_metadata_licence_and_changelog() -> None:
    """The declared licence has its file; the changelog names this version; both ship."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    meta = pyproject["project"]
    assert meta["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## Unreleased" in changelog or f"## {meta['version']}" in changelog
    sdist = pyproject["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert {"LICENSE", "CHANGELOG.md", "README.md", "docs"} <= set(sdist)
    assert all(url.startswith("https://") for url in meta["urls"].values())


# -- the runner itself: a wrong example fails ----------------------------------------------------


def _doc(tmp_path: Path, text: str) -> Session:
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    (found,) = doctest_md.sessions([doc])
    return found


TASKS = """<!-- doctest: s file=tasks.py -->
```python
from invoke import Collection, task
from invoke_checkpoints import workflow

@task
def one(c):
    print("one ran")

ns = Collection(one)
ns.add_collection(workflow(one))
```
"""


def _project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    return directory


def test_runner_accepts_a_true_transcript_with_variable_parts(tmp_path: Path) -> None:
    session = _doc(
        tmp_path,
        TASKS
        + """<!-- doctest: s -->
```console
$ invoke workflow
workflow (workflow_20250101_120000): 1 step
[1/1] one
...
workflow: completed
    0  one  completed  0.00s
$ ls /nowhere
ls: cannot access '/somewhere/else': No such file or directory
$ echo $?
2
```
""",
    )
    doctest_md.run_session(session, _project(tmp_path))


@pytest.mark.parametrize(
    ("transcript", "complaint"),
    [
        ("$ invoke workflow\nworkflow (workflow_20250101_120000): 2 steps\n...\n", "printed"),
        ("$ invoke workflow\n...\nworkflow: failed\n", "printed"),
        ("$ invoke workflow.nope\n...\n", "exited 1; show it"),
        ("$ invoke workflow --resume=x_1\n...\n$ invoke workflow\n...\n", "exited 2; show it"),
        ("$ echo 0.5\n0.7\n", "printed"),
    ],
)
def test_runner_refuses_a_wrong_transcript(tmp_path: Path, transcript: str, complaint: str) -> None:
    session = _doc(tmp_path, TASKS + f"<!-- doctest: s -->\n```console\n{transcript}```\n")
    with pytest.raises(AssertionError, match=complaint):
        doctest_md.run_session(session, _project(tmp_path))


def test_runner_refuses_a_malformed_marker(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="must be followed by a fenced block"):
        _doc(tmp_path, "<!-- doctest: s -->\ntext\n")
    with pytest.raises(AssertionError, match="console"):
        _doc(tmp_path, "<!-- doctest: s -->\n```python\nx = 1\n```\n")
