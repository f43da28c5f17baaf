"""Write the JSON Schema of each on-disk file: ``python -m invoke_checkpoints.schemas DIR``."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render() -> dict[str, str]:
    """File name -> schema text, exactly as committed under docs/schemas/."""
    from .models import json_schemas

    return {
        name: json.dumps(schema, indent=2, sort_keys=True) + "\n"
        for name, schema in json_schemas().items()
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0] if args else "docs/schemas")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (target / name).write_text(text)
        print(f"wrote {target / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
