"""The ``checkpoints.*`` settings, read through Invoke's own config system.

Every key is registered on the workflow collection (``Collection.configure``), so
``invoke.yaml``, ``INVOKE_CHECKPOINTS_<KEY>`` environment variables and a root collection's
config all override it the usual Invoke way; every value is type-checked here, with one line
naming the key, the value and what was expected.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

__all__ = [
    "DEFAULTS",
    "OTHER_ENV",
    "Settings",
    "env_flag",
    "parse_bool",
    "registered_defaults",
    "run_key_error",
    "unknown_env_warnings",
]

#: Defaults of every ``checkpoints.*`` key. ``plugins`` and ``disable_plugins`` default to a
#: string, not a list: Invoke casts an ``INVOKE_CHECKPOINTS_*`` variable to the type of the
#: key's current value and refuses lists, so a comma-separated string is what env vars can set
#: (a list in invoke.yaml is accepted too).
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
    "plugins": "",
    "disable_plugins": "",
    "strict_plugins": False,
    #: Plugin name -> that plugin's own settings (its business, not checked here).
    "plugin_config": {},
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
        if suffix.startswith("PLUGIN_CONFIG_"):
            continue  # a plugin's own settings (checkpoints.plugin_config.<name>.<key>)
        import difflib

        close = difflib.get_close_matches(suffix, known, n=1)
        hint = f"did you mean {_ENV_PREFIX}{close[0]}?" if close else f"known: {', '.join(known)}"
        lines.append(f"invoke-checkpoints: warning: {name} is not a setting, ignored ({hint})")
    return lines


#: Keys registered on the collection with a ``None`` default instead of their real one, so
#: that Invoke hands an ``INVOKE_CHECKPOINTS_<KEY>`` string through as it is: Invoke casts an
#: environment string to the default's type, and for a boolean any text but "0" and "" is
#: true ("false" included), an int "abc" is a traceback, a list is refused outright.
PASSTHROUGH = frozenset(k for k, v in DEFAULTS.items() if not isinstance(v, (str, dict)))

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def registered_defaults() -> dict[str, Any]:
    """What the workflow collection registers under ``checkpoints`` (see ``PASSTHROUGH``)."""
    return {k: (None if k in PASSTHROUGH else v) for k, v in DEFAULTS.items()}


def parse_bool(text: str) -> bool | None:
    """true/false/yes/no/on/off/1/0, any case; ``None`` for anything else."""
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return None


def env_flag(name: str) -> bool:
    """Environment variable ``name`` as a boolean: unset or empty is false; otherwise one of
    true/false/yes/no/on/off/1/0, or a one-line error."""
    text = os.environ.get(name, "")
    if not text.strip():
        return False
    value = parse_bool(text)
    if value is None:
        raise CheckpointError(
            f"environment variable {name} must be true/false/yes/no/on/off/1/0, got {text!r}"
        )
    return value


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and not value.strip():
        return False  # an empty environment variable: false, as Invoke's own rule has it
    if isinstance(value, str) and parse_bool(value) is not None:
        return bool(parse_bool(value))
    raise CheckpointError(
        f"config checkpoints.{key} must be a boolean (true/false/yes/no/on/off/1/0), got {value!r}"
    )


def _int(key: str, value: Any, minimum: int) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    if number is None or number < minimum:
        raise CheckpointError(
            f"config checkpoints.{key} must be a whole number >= {minimum}, got {value!r}"
        )
    return number


def _days(key: str, value: Any) -> float:
    """A finite number of days >= 0 (a fraction allowed, as ``clean --older-than`` takes)."""
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if number is None or not math.isfinite(number) or number < 0:
        raise CheckpointError(
            f"config checkpoints.{key} must be a finite number of days >= 0, got {value!r}"
        )
    return int(number) if float(number).is_integer() else number


def _dir(value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        # An empty dir would make the project root itself the store.
        raise CheckpointError(
            f"config checkpoints.dir must be a non-empty path (a string), got {value!r}"
        )
    return value


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
        raise CheckpointError(
            f"config checkpoints.{key} must be a list of names (or a comma-separated string), "
            f"got {value!r}"
        )
    return tuple(value)


def _plugin_config(value: Any) -> dict[str, dict[str, Any]]:
    """``checkpoints.plugin_config``: a mapping of plugin names to mappings, as plain dicts."""
    if value is None:
        return {}
    if not _is_mapping(value):
        raise CheckpointError(
            f"config checkpoints.plugin_config must map plugin names to settings, got {value!r}"
        )
    sections: dict[str, dict[str, Any]] = {}
    for name, given in dict(value).items():
        section = {} if given is None else given
        if not _is_mapping(section):
            raise CheckpointError(
                f"config checkpoints.plugin_config.{name} must be a mapping of settings, "
                f"got {section!r}"
            )
        sections[str(name)] = _plain(section)
    return sections


def _is_mapping(value: Any) -> bool:
    # Invoke hands nested config sections over as DataProxy objects, not dicts.
    return isinstance(value, dict) or (hasattr(value, "keys") and hasattr(value, "__getitem__"))


def _plain(value: Any) -> Any:
    if _is_mapping(value) and not isinstance(value, (str, bytes)):
        return {str(k): _plain(value[k]) for k in value}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


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
        "plugin_config",
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
        retention_days: float = 7,
        auto_clean: bool = True,
        smart_execution: bool = True,
        parallel: bool = False,
        max_workers: int = 0,
        shared: bool = False,
        fsync: bool = True,
        plugins: tuple[str, ...] = (),
        disable_plugins: tuple[str, ...] = (),
        strict_plugins: bool = False,
        plugin_config: dict[str, dict[str, Any]] | None = None,
        lease_seconds: float = 30.0,
        run_key: str | None = None,
    ) -> None:
        #: A directory, or an ``s3://bucket/prefix`` URL (a remote store, the s3 extra).
        self.dir: Path | str = dir
        self.root: Path = root
        self.enabled: bool = enabled
        self.retention_days: float = retention_days
        self.auto_clean: bool = auto_clean
        self.smart_execution: bool = smart_execution
        self.parallel: bool = parallel
        self.max_workers: int = max_workers
        self.shared: bool = shared
        self.fsync: bool = fsync
        self.plugins: tuple[str, ...] = plugins
        self.disable_plugins: tuple[str, ...] = disable_plugins
        self.strict_plugins: bool = strict_plugins
        self.plugin_config: dict[str, dict[str, Any]] = plugin_config or {}
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
        # A key registered with a None default and not set anywhere (see PASSTHROUGH).
        merged = {**DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}
        unknown = sorted(set(merged) - set(DEFAULTS))
        if unknown:
            # A misspelt key (say `fsycn: false`) must not be silently ignored.
            known = ", ".join(sorted(DEFAULTS))
            raise CheckpointError(
                f"unknown config key checkpoints.{unknown[0]} (known keys: {known})"
            )
        for key in sorted(PASSTHROUGH & set(raw)):
            if isinstance(raw[key], bool) and isinstance(DEFAULTS[key], bool):
                # Set in a config file too: Invoke then cast the environment string with its
                # own boolean rule ("false" -> true); read the string as written instead.
                text = os.environ.get(f"{_env_prefix(config)}CHECKPOINTS_{key.upper()}")
                merged[key] = text if text is not None else raw[key]
        root = _project_root(config) or fallback_root
        for line in unknown_env_warnings():
            print(line, file=sys.stderr)
        return cls(
            dir=_store_dir(_dir(merged["dir"]), root),
            root=root,
            enabled=_bool("enabled", merged["enabled"]),
            retention_days=_days("retention_days", merged["retention_days"]),
            auto_clean=_bool("auto_clean", merged["auto_clean"]),
            smart_execution=_bool("smart_execution", merged["smart_execution"]),
            parallel=_bool("parallel", merged["parallel"]),
            max_workers=_int("max_workers", merged["max_workers"], 0),
            shared=_permissions(merged["permissions"]),
            fsync=_bool("fsync", merged["fsync"]),
            plugins=_names("plugins", merged["plugins"]),
            disable_plugins=_names("disable_plugins", merged["disable_plugins"]),
            strict_plugins=_bool("strict_plugins", merged["strict_plugins"]),
            plugin_config=_plugin_config(merged["plugin_config"]),
            lease_seconds=_int("lease_seconds", merged["lease_seconds"], 1),
            run_key=_run_key(merged["run_key"]),
        )


def _env_prefix(config: Any) -> str:
    prefix = getattr(config, "_env_prefix", None)  # "INVOKE_" unless a Program changed it
    return prefix if isinstance(prefix, str) else "INVOKE_"


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
