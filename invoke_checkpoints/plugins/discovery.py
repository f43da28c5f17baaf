"""Whether any installed distribution may declare a plugin entry point, found cheaply.

pluggy's ``load_setuptools_entrypoints`` asks ``importlib.metadata`` for every installed
distribution and parses each one's entry points: about 6 ms in a usual virtualenv, before step 0
of every run, although most projects install no plugin at all. A distribution that declares
one has ``[invoke_checkpoints]`` in the ``entry_points.txt`` of its ``.dist-info`` (or
``.egg-info``) directory on ``sys.path``; looking for that text is about a fifth of the cost.
Anything this scan cannot see (a zip or egg on the path, a finder that provides distributions
of its own) answers "maybe", and pluggy looks as before.
"""

from __future__ import annotations

import os
import sys

__all__ = ["may_declare"]

_METADATA_DIRS = (".dist-info", ".egg-info")


def _own_finders_only() -> bool:
    """No finder on ``sys.meta_path`` but the standard path finder provides distributions."""
    from importlib.machinery import PathFinder

    return all(
        finder is PathFinder or not hasattr(finder, "find_distributions")
        for finder in sys.meta_path
    )


def may_declare(group: str) -> bool:
    """``False`` only when no distribution on ``sys.path`` declares an entry point in
    ``group``; ``True`` when one does, or when that cannot be told cheaply."""
    if not _own_finders_only():
        return True
    needle = f"[{group}]"
    for entry in sys.path:
        where = entry or "."
        if where.endswith(".egg") or os.path.isfile(where):
            return True  # an egg or a zip file: its metadata is laid out otherwise
        try:
            with os.scandir(where) as found:
                # Lower-cased, as importlib.metadata matches them (`Foo-1.0.DIST-INFO`).
                names = [e.path for e in found if e.name.lower().endswith(_METADATA_DIRS)]
        except OSError:
            continue  # missing or unreadable: importlib.metadata finds nothing there either
        for path in names:
            try:
                with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as f:
                    if needle in f.read():
                        return True
            except (OSError, UnicodeDecodeError):
                continue  # no entry points (or a single-file .egg-info)
    return False
