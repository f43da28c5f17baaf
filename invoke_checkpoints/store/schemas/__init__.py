"""The JSON Schema of each on-disk file, generated from the models and shipped as package data.

``python -m invoke_checkpoints.store.schemas [DIR]`` (``invoke schemas``) writes them here, next
to this module, unless told another DIR; ``tests/test_schemas.py`` fails when they are stale.
The fast readers (``reading.py``) compile them, so this module must not import pydantic.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA_DIR", "load", "main", "render"]

#: Where the schemas are shipped: this package.
SCHEMA_DIR = Path(__file__).parent


def load(name: str) -> dict[str, Any]:
    """The shipped schema ``name``, as committed (no pydantic)."""
    with open(SCHEMA_DIR / name, "rb") as f:
        schema: dict[str, Any] = json.loads(f.read())
    return schema


def render() -> dict[str, str]:
    """File name -> schema text, as the models generate it now."""
    from ..models import json_schemas

    return {
        name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SCHEMA_DIR
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (target / name).write_text(text)
        print(f"wrote {target / name}")
    return 0
