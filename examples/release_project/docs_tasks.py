"""The ``docs`` sub-collection: ``invoke docs.build``, with its own config (``docs.target``)."""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, Context, task


@task
def build(c: Context) -> None:
    """Render docs/ into the configured target directory."""
    target = Path(c.config.docs.target)
    target.mkdir(parents=True, exist_ok=True)
    text = Path("docs/index.txt").read_text()
    (target / "index.html").write_text(f"<html><body><p>{text}</p></body></html>\n")
    print(f"docs written to {target}/index.html")


ns = Collection("docs")
ns.add_task(build)
ns.configure({"docs": {"target": "build/html"}})
