"""The EnvironmentFile that holds API keys: ``KEY=value`` lines, mode 0600, never in YAML.

The same file serves systemd (``EnvironmentFile=`` in the unit) and the command-line
programs, which read it at start so ``provider status`` sees the keys the service sees.
It is written atomically through a file created 0600 from the first byte: a key must
never be readable by others, not even for the instant between create and chmod.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

from coffee_maker.ai_providers.atomic_files import atomic_write

log = logging.getLogger(__name__)

ENV_FILE_NAME = "env"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")
_UNSAFE_VALUE = re.compile(r"[\s\"'\\]")

#: Variables this process took from the env file (not from its own environment).
_loaded: dict[str, str] = {}


def default_env_file() -> Path:
    """``~/.config/coffee-maker/env`` (``$XDG_CONFIG_HOME`` respected)."""
    from coffee_maker.paths import user_config_dir

    return user_config_dir() / ENV_FILE_NAME


def parse_env_text(text: str) -> dict[str, str]:
    """``KEY=value`` lines as systemd reads them: ``#``/``;`` comments, optional quotes."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        match = _LINE_RE.match(line)
        if not match:
            continue
        value = match.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[match.group(1)] = value
    return values


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """The file's variables, or nothing when it does not exist."""
    path = path or default_env_file()
    try:
        return parse_env_text(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def load_env_file(path: Path | None = None) -> set[str]:
    """Put the file's variables into ``os.environ`` where the environment lacks them.

    The environment wins, as it does for systemd's ``Environment=`` over the file. Values
    are registered as secrets so no log or message can show them. Returns the names set.
    """
    from coffee_maker.secrets import register_secret_names, register_secret_value

    path = path or default_env_file()
    values = read_env_file(path)
    if values and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users; run: chmod 600 %s", path, path)
    # Not every line is a key (LOG_LEVEL=info): short values are not redacted everywhere.
    register_secret_names(values, any_length=False)
    added = set()
    for name, value in values.items():
        register_secret_value(value, any_length=False)
        if name not in os.environ:
            os.environ[name] = _loaded[name] = value
            added.add(name)
    return added


def from_env_file(name: str) -> bool:
    """Whether ``name``'s current value came from :func:`load_env_file`."""
    return name in _loaded and os.environ.get(name) == _loaded[name]


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as a plain ``KEY=value`` line, or None."""
    if not value:
        return "it is empty"
    if _UNSAFE_VALUE.search(value):
        return "it contains spaces, quotes or backslashes (paste the key alone)"
    return None


def update_env_file(path: Path, updates: Mapping[str, str]) -> None:
    """Set ``updates`` in the file, keeping every other line byte for byte; mode 0600."""
    for name, value in updates.items():
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid environment variable name")
        problem = value_problem(value)
        if problem:
            raise ValueError(f"the value for {name} cannot be stored: {problem}")
    path = path.expanduser()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    pending = dict(updates)
    kept = []
    for line in lines:
        match = _LINE_RE.match(line)
        name = match.group(1) if match else None
        if name in updates:
            if name in pending:
                kept.append(f"{name}={pending.pop(name)}\n")
            continue  # a later duplicate of a replaced name would win in systemd: drop it
        kept.append(line)
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    kept += [f"{name}={value}\n" for name, value in pending.items()]
    _write_private(path.resolve() if path.is_symlink() else path, "".join(kept))


def _write_private(path: Path, text: str) -> None:
    """Atomic replace through a 0600 temporary file: the env file holds keys."""
    atomic_write(path, text.encode("utf-8"))
