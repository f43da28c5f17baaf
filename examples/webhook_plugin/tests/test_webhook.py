"""The webhook plugin against a real HTTP server on 127.0.0.1, started by the test."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from invoke_checkpoints.testing import WorkflowProject

TASKS = """
from invoke import Collection, task
from invoke_checkpoints import workflow
from checkpoints_webhook import plugin

@task
def build(c):
    pass

@task
def test(c):
    c.run("exit 3")

ns = Collection()
ns.add_collection(workflow(build, test, plugins=[plugin]))
"""


class Server:
    """Records every JSON body POSTed to it; answers after ``delay`` seconds."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                time.sleep(server.delay)
                server.bodies.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    thread = threading.Thread(target=srv.httpd.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_failure_and_finish_are_posted_before_the_command_returns(
    tmp_path: Path, server: Server
) -> None:
    """Default events: the failed step, then the run's end, delivered by workflow_finish."""
    project = WorkflowProject(tmp_path)
    project.write(TASKS)
    project.configure(plugin_config={"webhook": {"url": server.url, "timeout": 2}})
    result = project.run()
    assert result.code == 3
    assert [(b["event"], b.get("step_name"), b["status"]) for b in server.bodies] == [
        ("step_failed", "test", "running"),
        ("workflow_finish", None, "failed"),
    ]
    assert server.bodies[0]["exit_code"] == 3
    assert result.checkpoint is not None and result.checkpoint["warnings"] == []


def test_a_slow_webhook_delays_nothing_but_the_flush(tmp_path: Path, server: Server) -> None:
    """The server takes 2 s per request, the timeout 0.3 s and the flush 1 s: the steps never
    wait, the command ends about a second later, and the failed deliveries are one reported
    line, not a failed run."""
    server.delay = 2.0
    project = WorkflowProject(tmp_path)
    project.write(TASKS.replace('c.run("exit 3")', "pass"))
    config = {
        "url": server.url,
        "timeout": 0.3,
        "flush_timeout": 1,
        "events": ["step_complete", "workflow_finish"],
    }
    project.configure(plugin_config={"webhook": config})
    started = time.monotonic()
    result = project.run()
    took = time.monotonic() - started
    assert result.code == 0, result.err
    assert took < 2.5, took
    assert result.states[0]["duration_seconds"] < 0.2
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(
        "invoke-checkpoints: plugin 'checkpoints_webhook.Webhook' failed in "
        "checkpoints_workflow_finish: WebhookError: webhook deliveries: "
    ), lines[0]
    assert "failed (TimeoutError: timed out)" in lines[0]


def test_nothing_is_sent_without_a_url(tmp_path: Path, server: Server) -> None:
    """Installed but not configured: silent."""
    project = WorkflowProject(tmp_path)
    project.write(TASKS)
    assert project.run().code == 3
    assert server.bodies == []
