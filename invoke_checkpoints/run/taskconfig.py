"""The config Invoke's ``Executor`` loads before each task, loaded once per change.

Before every task, Invoke's Executor loads the task's collection configuration and the shell
environment into the shared config (``load_collection`` + ``load_shell_env``: three merges and
a crawl of every config key, about 0.15 ms). A workflow does the same before each step
(issue #13), but most steps share their collection and nothing in the environment changes
between them, so the reload usually recomputes the config it already has. It is skipped when
its inputs are what they were at the last load into the same config object: the collection's
configuration (compared by value) and the environment (any change, not only Invoke's prefixed
variables: cheaper to compare whole).
What a task changed itself (``c.config.x = ...``) lives in the config's modifications layer,
which a reload would keep anyway.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from .isolation import environ_snapshot

if TYPE_CHECKING:
    from invoke import Collection, Config

__all__ = ["TaskConfig"]


class TaskConfig:
    """Loads into a config what ``invoke <task>`` would load before running that task."""

    def __init__(self, root: Collection | None) -> None:
        self._root = root
        self._lock = threading.Lock()
        #: (config, collection configuration, prefixed environment) of the last load. The
        #: config object itself, not its id: a freed clone's id may be reused by the next.
        self._last: tuple[Config, dict[str, Any], dict[Any, Any]] | None = None

    def load(self, config: Config, path: str | None) -> None:
        """Load the configuration of collection ``path`` (``None``: the root collection's) and
        the shell environment into ``config``, unless that is what it holds already."""
        if self._root is None:
            return
        collection = self._root.configuration(path)
        env = environ_snapshot()
        with self._lock:
            last = self._last
            if last is not None and last[0] is config and last[1] == collection and last[2] == env:
                return
            config.load_collection(collection)
            config.load_shell_env()
            self._last = (config, collection, env)
