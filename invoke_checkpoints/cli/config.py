"""The ``checkpoints.*`` settings, read through Invoke's own config system.

Every key has a default registered on the workflow collection (``Collection.configure``), so
``invoke.yaml``, ``INVOKE_CHECKPOINTS_<KEY>`` environment variables and a root collection's
config all override it the usual Invoke way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

__all__ = ["DEFAULTS", "OTHER_ENV", "Settings", "env_flag", "run_key_error", "unknown_env_warnings"]

#: Defaults of every ``checkpoints.*`` key. Lists are tuples-as-lists for Invoke's merging.
DEFAULTS: dict[str, Any] = {
    "dir": ".checkpoints",
    "enabled": True,
    "retention_days": 7,
    "auto_clean": True,
    "smart_execution": True,
    "parallel": False,
    "max_workers": 0,
    "permissions": "private",
    "fsync": True,
    "plugins": [],
    "disable_plugins": [],
    "strict_plugins": False,
    "lease_seconds": 30,
    "run_key": "",
}


#: ``INVOKE_CHECKPOINTS_*`` variables that are not ``checkpoints.*`` keys: read directly
#: (plugin autoload and debug tracing, docs/plugins.md; FAULT: the crash tests' fault hook).
OTHER_ENV = ("DISABLE_PLUGIN_AUTOLOAD", "DEBUG", "FAULT")
_ENV_PREFIX = "INVOKE_CHECKPOINTS_"


def unknown_env_warnings(environ: dict[str, str] | os._Environ[str] = os.environ) -> list[str]:
    """One line per ``INVOKE_CHECKPOINTS_*`` variable that means nothing (Invoke ignores
    a variable that matches no config key): a typo must not go unnoticed."""
    known = sorted(key.upper() for key in (*DEFAULTS, *OTHER_ENV))
    lines = []
    for name in sorted(environ):
        suffix = name[len(_ENV_PREFIX) :]
        if not name.startswith(_ENV_PREFIX) or suffix in known:
            continue
        import difflib

        close = difflib.get_close_matches(suffix, known, n=1)
        hint = f"did you mean {_ENV_PREFIX}{close[0]}?" if close else f"known: {', '.join(known)}"
        lines.append(f"invoke-checkpoints: warning: {name} is not a setting, ignored ({hint})")
    return lines


def env_flag(name: str) -> bool:
    """True when environment variable ``name`` is set to something other than 0/false/empty."""
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (
        "1",
        "true",
        "yes",
        "on",
        "0",
        "false",
        "no",
        "off",
        "",
    ):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(value, int):
        return bool(value)
    raise CheckpointError(f"config checkpoints.{key} must be true or false, got {value!r}")


def _int(key: str, value: Any, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if isinstance(value, bool) or number < minimum:
        raise CheckpointError(
            f"config checkpoints.{key} must be a whole number >= {minimum}, got {value!r}"
        )
    return number


def _permissions(value: Any) -> bool:
    if value not in ("private", "shared"):
        raise CheckpointError(
            f"config checkpoints.permissions must be 'private' (0700/0600) or 'shared' "
            f"(0755/0644), got {value!r}"
        )
    return bool(value == "shared")


def _names(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", " ").split() if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise CheckpointError(f"config checkpoints.{key} must be a list of names, got {value!r}")
    return tuple(value)


class Settings:
    """Validated ``checkpoints.*`` settings for one command.

    A plain slotted class rather than a dataclass: config.py is imported with tasks.py, and
    building a dataclass costs about a millisecond of every Invoke command.
    """

    __slots__ = (
        "auto_clean",
        "dir",
        "disable_plugins",
        "enabled",
        "fsync",
        "lease_seconds",
        "max_workers",
        "parallel",
        "plugins",
        "retention_days",
        "root",
        "run_key",
        "shared",
        "smart_execution",
        "strict_plugins",
    )

    def __init__(
        self,
        dir: Path | str,
        *,
        root: Path = Path(),
        enabled: bool = True,
        retention_days: int = 7,
        auto_clean: bool = True,
        smart_execution: bool = True,
        parallel: bool = False,
        max_workers: int = 0,
        shared: bool = False,
        fsync: bool = True,
        plugins: tuple[str, ...] = (),
        disable_plugins: tuple[str, ...] = (),
        strict_plugins: bool = False,
        lease_seconds: float = 30.0,
        run_key: str | None = None,
    ) -> None:
        #: A directory, or an ``s3://bucket/prefix`` URL (a remote store, the s3 extra).
        self.dir: Path | str = dir
        self.root: Path = root
        self.enabled: bool = enabled
        self.retention_days: int = retention_days
        self.auto_clean: bool = auto_clean
        self.smart_execution: bool = smart_execution
        self.parallel: bool = parallel
        self.max_workers: int = max_workers
        self.shared: bool = shared
        self.fsync: bool = fsync
        self.plugins: tuple[str, ...] = plugins
        self.disable_plugins: tuple[str, ...] = disable_plugins
        self.strict_plugins: bool = strict_plugins
        self.lease_seconds: float = lease_seconds
        self.run_key: str | None = run_key

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    @classmethod
    def from_config(cls, config: Any, fallback_root: Path) -> Settings:
        """Read an ``invoke.Config``; relative ``dir`` is resolved beside the loaded tasks.py."""
        try:
            raw = dict(config.get("checkpoints") or {})
        except (AttributeError, TypeError):
            raw = {}
        merged = {**DEFAULTS, **raw}
        unknown = sorted(set(merged) - set(DEFAULTS))
        if unknown:
            # A misspelt key (say `fsycn: false`) must not be silently ignored.
            known = ", ".join(sorted(DEFAULTS))
            raise CheckpointError(
                f"unknown config key checkpoints.{unknown[0]} (known keys: {known})"
            )
        root = _project_root(config) or fallback_root
        for line in unknown_env_warnings():
            print(line, file=sys.stderr)
        return cls(
            dir=_store_dir(str(merged["dir"]), root),
            root=root,
            enabled=_bool("enabled", merged["enabled"]),
            retention_days=_int("retention_days", merged["retention_days"], 0),
            auto_clean=_bool("auto_clean", merged["auto_clean"]),
            smart_execution=_bool("smart_execution", merged["smart_execution"]),
            parallel=_bool("parallel", merged["parallel"]),
            max_workers=_int("max_workers", merged["max_workers"], 0),
            shared=_permissions(merged["permissions"]),
            fsync=_bool("fsync", merged["fsync"]),
            plugins=_names("plugins", merged["plugins"]),
            disable_plugins=_names("disable_plugins", merged["disable_plugins"]),
            strict_plugins=_bool("strict_plugins", merged["strict_plugins"]),
            lease_seconds=_int("lease_seconds", merged["lease_seconds"], 1),
            run_key=_run_key(merged["run_key"]),
        )


def _store_dir(value: str, root: Path) -> Path | str:
    """A directory (relative to the project), or an ``s3://bucket/prefix`` URL as it is."""
    if value.startswith("s3://"):
        return value
    directory = Path(os.path.expanduser(value))
    return directory if directory.is_absolute() else root / directory


#: What a run key may hold: a CI system's run id, attempt numbers, a branch name.
_RUN_KEY_MAX = 200


def run_key_error(value: str) -> str | None:
    """Why ``value`` cannot be a run key (``--run-key`` / ``checkpoints.run_key``), or None."""
    if not value or len(value) > _RUN_KEY_MAX or not value.isprintable():
        return (
            f"a run key must be 1 to {_RUN_KEY_MAX} printable characters "
            f"(e.g. the CI system's run id), got {value!r}"
        )
    return None


def _run_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    why = run_key_error(str(value))
    if why is not None:
        raise CheckpointError(f"config checkpoints.run_key: {why}")
    return str(value)


def _project_root(config: Any) -> Path | None:
    # Invoke records the directory of the tasks.py it loaded as the project location;
    # the store lives beside it so running from a subdirectory uses the same store.
    prefix = getattr(config, "_project_prefix", None)
    return Path(prefix) if isinstance(prefix, str) and prefix else None
