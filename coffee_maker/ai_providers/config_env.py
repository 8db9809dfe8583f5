"""What the environment brings to the configuration: the env file, ``${VAR}``, overrides.

The config file is read one way whoever reads it (``code-developer``, ``project-manager``,
the daemon under systemd, ``ProviderFactory(config_path=...)`` from Python): against
:func:`process_environ`, the process environment with the env file's keys filled in, so a
``${VAR}`` in the YAML, ``CODE_DEVELOPER_CONFIG`` and the overrides below all see the same
variables. The file's schema and lookup are in ``provider_config.py``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from coffee_maker.errors import UserError

if TYPE_CHECKING:
    from coffee_maker.ai_providers.provider_config import ProvidersConfig


class ConfigError(UserError):
    """A configuration mistake; ``str()`` is the one line to show the user (exit code 2)."""


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(value: Any, environ: Mapping[str, str], where: str = "") -> Any:
    """Replace ``${VAR}`` (or ``${VAR:-default}``) in every string of the loaded YAML."""
    if isinstance(value, dict):
        return {
            k: expand_env(v, environ, f"{where}.{k}" if where else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [expand_env(v, environ, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _VAR.sub(substitute, value)


def process_environ() -> Mapping[str, str]:
    """The process environment, after the env file (``env_file.py``) filled in what it
    lacks: what every reader of the config sees, the command-line programs and the Python
    API (``ProviderFactory(config_path=...)``) alike, as the service sees it under systemd."""
    from coffee_maker.ai_providers.env_file import load_env_file

    load_env_file()
    return os.environ


def _bool_env(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r}: expected true or false")


def _float_env(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r}: expected a number of US dollars") from None
    if number < 0:
        raise ConfigError(f"{name}={value!r}: must not be negative")
    return number


def apply_env_overrides(config: ProvidersConfig, environ: Mapping[str, str]) -> ProvidersConfig:
    """The seed's environment variables win over the file."""
    if environ.get("DEFAULT_AI_PROVIDER"):
        config.default_provider = environ["DEFAULT_AI_PROVIDER"]
    if environ.get("AI_PROVIDER_FALLBACK"):
        config.fallback.enabled = _bool_env("AI_PROVIDER_FALLBACK", environ["AI_PROVIDER_FALLBACK"])
    if environ.get("AI_COST_DAILY_LIMIT"):
        config.cost_controls.daily_limit = _float_env(
            "AI_COST_DAILY_LIMIT", environ["AI_COST_DAILY_LIMIT"]
        )
    if environ.get("AI_COST_PER_TASK_LIMIT"):
        config.cost_controls.per_task_limit = _float_env(
            "AI_COST_PER_TASK_LIMIT", environ["AI_COST_PER_TASK_LIMIT"]
        )
    return config
