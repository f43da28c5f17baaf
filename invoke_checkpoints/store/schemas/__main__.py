"""``python -m invoke_checkpoints.store.schemas [DIR]``: write the schemas (see ``__init__``)."""

from . import main

raise SystemExit(main())
