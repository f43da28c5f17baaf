"""invoke-checkpoints-webhook: POST workflow events to a webhook from a background thread.

Hooks only put the event on a queue (they return at once, so the run never waits for the
network); one daemon thread delivers each event with ``timeout``; ``workflow_finish`` flushes
the queue for at most ``flush_timeout`` seconds and raises :class:`WebhookError` if deliveries
failed (reported by invoke-checkpoints as one line, never changing the run's outcome).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.request
from typing import TYPE_CHECKING, Any

from invoke_checkpoints import hookimpl

if TYPE_CHECKING:
    from invoke_checkpoints import RunInfo, StepInfo, StepState

__all__ = ["NAME", "Webhook", "WebhookError", "plugin"]

#: The plugin's name: its entry point, and its section in ``checkpoints.plugin_config``.
NAME = "webhook"
DEFAULT_EVENTS = ("step_failed", "workflow_finish")


class WebhookError(Exception):
    """Some events could not be delivered."""


class Webhook:
    """The plugin: one queue and one delivery thread per process."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, float, bytes] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._failures: list[str] = []
        self._lock = threading.Lock()

    # -- hooks -------------------------------------------------------------------------------

    @hookimpl
    def checkpoints_step_start(self, run: RunInfo, step: StepInfo) -> None:
        self._send(run, "step_start", step)

    @hookimpl
    def checkpoints_step_complete(self, run: RunInfo, step: StepInfo, state: StepState) -> None:
        self._send(run, "step_complete", step, exit_code=state.exit_code)

    @hookimpl
    def checkpoints_step_failed(self, run: RunInfo, step: StepInfo, state: StepState) -> None:
        self._send(run, "step_failed", step, exit_code=state.exit_code)

    @hookimpl
    def checkpoints_workflow_finish(self, run: RunInfo, status: str) -> None:
        config = run.config(NAME)
        self._send(run, "workflow_finish", status=status)
        if not config.get("url"):
            return
        timeout = float(config.get("timeout", 5))
        self.flush(float(config.get("flush_timeout", 2 * timeout)))

    # -- delivery ----------------------------------------------------------------------------

    def _send(self, run: RunInfo, event: str, step: StepInfo | None = None, **extra: Any) -> None:
        config = run.config(NAME)
        url = config.get("url")
        if not url or event not in config.get("events", DEFAULT_EVENTS) or run.options.dry_run:
            return
        body: dict[str, Any] = {
            "event": event,
            "workflow": run.name,
            "run_id": run.workflow_id or None,
            "status": run.status,
        }
        if step is not None:
            body.update(step=step.number, step_name=step.name)
        body.update(extra)
        self._start()
        self._queue.put((str(url), float(config.get("timeout", 5)), json.dumps(body).encode()))

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._deliver, name="checkpoints-webhook", daemon=True
                )
                self._thread.start()

    def _deliver(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                url, timeout, body = item
                request = urllib.request.Request(
                    url, data=body, headers={"Content-Type": "application/json"}
                )
                try:
                    with urllib.request.urlopen(request, timeout=timeout) as response:
                        response.read()
                except Exception as exc:  # any failure: reported at workflow_finish
                    with self._lock:
                        self._failures.append(f"{type(exc).__name__}: {exc}")
            finally:
                self._queue.task_done()

    def flush(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for queued events; raise for those that failed or remain."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        left = self._queue.unfinished_tasks
        with self._lock:
            failures, self._failures = self._failures, []
        if failures or left:
            parts = [f"{len(failures)} failed ({failures[0]})"] if failures else []
            parts += [f"{left} still queued after {timeout:g} s"] if left else []
            raise WebhookError(f"webhook deliveries: {', '.join(parts)}")


#: What the entry point registers.
plugin = Webhook()
