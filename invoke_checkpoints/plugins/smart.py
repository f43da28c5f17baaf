"""Built-in plugin ``smart``: skip a step whose inputs, args and code are unchanged.

Block it with ``checkpoints.disable_plugins: [smart]`` and register your own
``checkpoints_should_skip_step`` to replace the rule (say, one based on ``git diff``).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .fingerprint import Fingerprint, FingerprintIndex, HashCache, compute, explain_change
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from pathlib import Path

    from ..run.context import RunInfo, StepInfo
    from ..store.records import StepState
    from ..store.runs import Store

#: The reason recorded for a smart skip (spec: ``skip_reason``).
NO_RELEVANT_CHANGES = "no_relevant_changes"


class SmartExecution:
    """Decides skips from fingerprints and records them after each successful step."""

    def __init__(self, store: Store, project_root: Path, workflow: str) -> None:
        self.root = project_root
        self.index = FingerprintIndex(store, f"{workflow}.smart.json")
        self.cache = HashCache(store, f"{workflow}.hashes.json")
        self._pending: dict[int, Fingerprint] = {}
        self._lock = threading.Lock()

    def fingerprint(self, step: StepInfo) -> Fingerprint:
        with self._lock:
            return compute(self.root, step.inputs, step.args, step.task, self.cache)

    def decide(self, step: StepInfo) -> tuple[bool, str]:
        """``(skip, why)`` for a step that has no completion marker."""
        if not step.inputs:
            return False, "no inputs declared, so it always runs"
        fp = self.fingerprint(step)
        self._pending[step.number] = fp
        change = explain_change(self.index.get(step.name), fp)
        if change is None:
            return True, f"{NO_RELEVANT_CHANGES}: inputs, args and code unchanged"
        return False, change

    @hookimpl
    def checkpoints_should_skip_step(self, run: RunInfo, step: StepInfo) -> str | None:
        if not run.options.smart:  # --no-smart, or smart_execution: false
            return None
        skip, _ = self.decide(step)
        return NO_RELEVANT_CHANGES if skip else None

    @hookimpl
    def checkpoints_step_complete(self, run: RunInfo, step: StepInfo, state: StepState) -> None:
        if not step.inputs or not run.workflow_id:
            return
        fp = self._pending.pop(step.number, None) or self.fingerprint(step)
        with self._lock:
            self.index.record(step.name, fp, run.workflow_id)

    @hookimpl
    def checkpoints_workflow_finish(self, run: RunInfo, status: str) -> None:
        if run.workflow_id:
            with self._lock:
                self.cache.save()
