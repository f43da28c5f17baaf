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
which a reload would keep anyway; a task that loads the collection or environment layer itself
replaces that layer, and the next call reloads (``_layers``).
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
        #: (config, collection configuration, environment, the layers that load set) of the
        #: last load. The config object itself, not its id: a freed clone's id may be reused.
        self._last: tuple[Config, dict[str, Any], dict[Any, Any], tuple[Any, Any]] | None = None

    def load(self, config: Config, path: str | None) -> None:
        """Load the configuration of collection ``path`` (``None``: the root collection's) and
        the shell environment into ``config``, unless that is what it holds already."""
        if self._root is None:
            return
        collection = self._root.configuration(path)
        env = environ_snapshot()
        with self._lock:
            last = self._last
            if (
                last is not None
                and last[0] is config
                and last[1] == collection
                and last[2] == env
                and _same(_layers(config), last[3])
            ):
                return
            config.load_collection(collection)
            config.load_shell_env()
            self._last = (config, collection, env, _layers(config))


def _layers(config: Config) -> tuple[Any, Any]:
    """The collection and environment layers the config holds now (compared by identity).

    A task may load either itself (``c.config.load_collection(...)``, ``load_shell_env()``),
    which replaces that layer's dict: then the next call reloads, as Invoke's Executor would.
    Invoke keeps the layers in ``_collection`` and ``_env``; without them (another Invoke),
    the identities are unknown and every call reloads.
    """
    collection, env = getattr(config, "_collection", None), getattr(config, "_env", None)
    if collection is None or env is None:
        return (object(), object())  # never the same as a later call's: always reload
    # The dicts themselves, compared by identity: holding them keeps an id from being reused.
    return (collection, env)


def _same(now: tuple[Any, Any], then: tuple[Any, Any]) -> bool:
    return now[0] is then[0] and now[1] is then[1]
