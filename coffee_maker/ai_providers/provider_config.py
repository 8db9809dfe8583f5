"""The configuration file: its schema, where it is found, and how it is read and checked.

Every mistake a user can make in the file ends in :class:`ConfigError`, one line naming
the file and the key (``config/ai_providers.yaml: providers.openai.max_tokens: ...``),
never a traceback and never a silent default. The format is documented in README.md
("Configuration"), config/ai_providers.yaml (every section) and docs/AI_PROVIDERS.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coffee_maker.ai_providers.config_env import (
    ConfigError,
    apply_env_overrides,
    expand_env,
    process_environ,
)
from coffee_maker.ai_providers.pricing import Price
from coffee_maker.ai_providers.routing_settings import RoutingSettings, check_routing
from coffee_maker.ai_providers.yaml_files import YamlFileError, read_yaml_file

if TYPE_CHECKING:
    from coffee_maker.config import AppConfig

__all__ = [  # ConfigError and the environment's part are re-exported: one import for callers
    "ConfigError",
    "ProvidersConfig",
    "apply_env_overrides",
    "expand_env",
    "find_config",
    "load_config",
    "parse_config",
    "process_environ",
]

ENV_CONFIG = "CODE_DEVELOPER_CONFIG"
REPO_CONFIG = Path("config") / "ai_providers.yaml"
BUILTIN_CONFIG = Path(__file__).resolve().parents[2] / "config" / "ai_providers.yaml"
PACKAGED_CONFIG = Path(__file__).resolve().parents[1] / "data" / "ai_providers.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PricingOverride(_Strict):
    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)
    cache_read: float = Field(0.0, ge=0)
    cache_write: float = Field(0.0, ge=0)
    free: bool = False


class ProviderSettings(_Strict):
    """One entry under ``providers:``. Keys a type does not use are simply ignored by it."""

    name: str = ""
    type: str = ""
    enabled: bool = True
    model: str | None = None
    fallback_models: list[str] = Field(default_factory=list)
    max_tokens: int = Field(8000, gt=0)
    temperature: float | None = Field(None, ge=0, le=2)
    timeout: float = Field(600.0, gt=0)
    api_key_env: str | None = None
    base_url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    stream: bool = False  # use the SDK's streaming API (needed by some proxies, long outputs)
    # a reply larger than this (MiB, headers and streaming overhead included) is refused
    max_reply_mib: int = Field(16, gt=0, le=4096)
    pricing: PricingOverride | None = None
    # request budgets for subscription plans that count requests, not dollars
    rpm: int | None = Field(None, gt=0)
    daily_requests: int | None = Field(None, gt=0)
    monthly_requests: int | None = Field(None, gt=0)
    # agent CLIs (claude-cli, codex-cli, gemini-cli); cli_path None: the CLI's usual name
    cli_path: str | None = None
    max_turns: int = Field(40, gt=0)
    permission_mode: str = "acceptEdits"
    allow_shell: bool = False
    allowed_tools: list[str] = Field(default_factory=list)
    # one agentic run may spend up to this (passed as --max-budget-usd, reserved up front)
    max_budget_usd: float | None = Field(2.0, gt=0)
    # codex-cli: its sandbox for the commands the model runs, a stream with no event for
    # this long is stopped, and its state directory (None: $CODEX_HOME or ~/.codex)
    sandbox: Literal["read-only", "workspace-write", "danger-full-access"] = "workspace-write"
    stall_timeout: float = Field(300.0, gt=0)
    codex_home: str | None = None
    # gemini
    vertex: bool = False
    project: str | None = None
    location: str | None = None
    api_version: str | None = None
    # ollama
    host: str | None = None
    # models without native tool calling use the SEARCH/REPLACE text protocol
    tool_calling: bool = True
    # runs on this machine (or one the user owns): may see code routing keeps private
    local: bool = False

    def price_override(self) -> Price | None:
        return Price(**self.pricing.model_dump()) if self.pricing else None

    @property
    def models(self) -> list[str]:
        """The model, then its fallbacks, without repeats."""
        chain = [self.model, *self.fallback_models] if self.model else list(self.fallback_models)
        return list(dict.fromkeys(m for m in chain if m))


class FallbackSettings(_Strict):
    enabled: bool = True
    retry_attempts: int = Field(3, ge=1)
    retry_delay: float = Field(1.0, ge=0)
    max_retry_delay: float = Field(60.0, ge=0)
    fallback_order: list[str] = Field(default_factory=list)
    cooldown_failures: int = Field(3, ge=1)  # consecutive failed calls before a cooldown
    cooldown_seconds: float = Field(300.0, ge=0)


class CostControls(_Strict):
    daily_limit: float | None = Field(50.0, ge=0)
    monthly_limit: float | None = Field(None, ge=0)
    per_task_limit: float | None = Field(5.0, ge=0)
    warn_threshold: float = Field(0.8, gt=0, le=1)


class ProvidersConfig(_Strict):
    """The sections this layer owns: which providers, how to fall back, what may be spent.

    The whole file is :class:`coffee_maker.config.AppConfig`, which adds the agent's and
    the daemon's sections (each defined by its own layer) to these.
    """

    default_provider: str | None = None
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    fallback: FallbackSettings = Field(default_factory=FallbackSettings)
    cost_controls: CostControls = Field(default_factory=CostControls)
    # Which tier of providers a priority starts on and escalates to (docs/ROUTING.md):
    # routing is over this layer's providers, so its section lives here.
    routing: RoutingSettings = Field(default_factory=RoutingSettings)

    #: Where it was loaded from (None for built-in defaults); not part of the file.
    source: str | None = Field(default=None, exclude=True)

    def provider_order(self, first: str | None = None) -> list[str]:
        """The fallback chain: ``first`` (or the default), then ``fallback_order``,
        then any other enabled provider in file order."""
        order = [first or self.default_provider, *self.fallback.fallback_order]
        order += [n for n, p in self.providers.items() if p.enabled]
        return [n for n in dict.fromkeys(o for o in order if o) if n in self.providers]


def __getattr__(name: str) -> Any:
    """``AppConfig``, the whole file's schema, lives with the assembly (``coffee_maker.config``)."""
    if name == "AppConfig":
        from coffee_maker.config import AppConfig

        return AppConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- loading ------------------------------------------------------------------------------


def find_config(
    path: str | os.PathLike[str] | None = None,
    repo: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """The config file by the lookup order (README, "Configuration"), or None for defaults."""
    env = process_environ() if environ is None else environ
    if path:
        candidate = Path(path).expanduser()
        if not candidate.is_file():
            raise ConfigError(f"--config {candidate}: no such file")
        return candidate
    if env.get(ENV_CONFIG):
        candidate = Path(env[ENV_CONFIG]).expanduser()
        if not candidate.is_file():
            raise ConfigError(f"{ENV_CONFIG}={candidate}: no such file")
        return candidate
    candidates = [Path(repo or ".") / REPO_CONFIG]
    from platformdirs import user_config_path

    candidates.append(user_config_path("coffee-maker") / "ai_providers.yaml")
    return next((c for c in candidates if c.is_file()), None)


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def parse_config(data: Any, source: str, environ: Mapping[str, str] | None = None) -> AppConfig:
    """Validate already-loaded YAML data against the whole file's schema (every layer's
    section, :class:`coffee_maker.config.AppConfig`); errors name ``source`` and the key."""
    from coffee_maker.config import AppConfig

    env = process_environ() if environ is None else environ
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    try:
        data = expand_env(data, env)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    providers = data["providers"] = data.get("providers") or {}  # `providers:` alone is none
    if not isinstance(providers, dict):
        raise ConfigError(f"{source}: providers: expected a mapping of name -> settings")
    implicit_types: set[str] = set()
    for name, settings in list(providers.items()):
        if settings is None:
            settings = providers[name] = {}
        if not isinstance(settings, dict):
            raise ConfigError(f"{source}: providers.{name}: expected a mapping of settings")
        if "type" not in settings:
            implicit_types.add(str(name))
        settings.setdefault("type", str(name))
        settings["name"] = str(name)
    try:
        config = AppConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        message = err["msg"].replace("Extra inputs are not permitted", "unknown key")
        raise ConfigError(f"{source}: {_location(err['loc'])}: {message}{more}") from None
    config.source = source
    try:
        apply_env_overrides(config, env)
    except ValidationError as exc:
        raise ConfigError(f"environment override: {exc.errors()[0]['msg']}") from None
    _check_references(config, source)
    check_routing(config, source)
    _check_types(config, source, implicit_types)
    return config


def _check_types(config: AppConfig, source: str, implicit: set[str]) -> None:
    """A typo in a ``type`` is the user's to fix now, not an outage found at the first call."""
    # Imported here: the registry's module imports this one.
    from coffee_maker.ai_providers.provider_factory import check_provider_type

    for name, settings in config.providers.items():
        try:
            check_provider_type(settings.type)
        except ConfigError as exc:
            hint = "; without a `type:` the name is the type" if name in implicit else ""
            raise ConfigError(f"{source}: providers.{name}.type: {exc}{hint}") from None


def _check_references(config: AppConfig, source: str) -> None:
    names = set(config.providers)
    if config.default_provider and config.default_provider not in names:
        raise ConfigError(
            f"{source}: default_provider: {config.default_provider!r} is not a configured "
            f"provider (configured: {', '.join(sorted(names)) or 'none'})"
        )
    for i, name in enumerate(config.fallback.fallback_order):
        if name not in names:
            raise ConfigError(
                f"{source}: fallback.fallback_order[{i}]: {name!r} is not a configured provider"
            )
    if not config.default_provider and config.providers:
        config.default_provider = next(iter(config.providers))


def load_config(
    path: str | os.PathLike[str] | None = None,
    repo: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> AppConfig:
    """Find, read, expand, validate and override: the one way to get a config.

    Without ``environ``, the process environment after the env file (:func:`process_environ`),
    so ``${VAR}``, ``CODE_DEVELOPER_CONFIG`` and the overrides read the same keys whoever
    calls: ``code-developer``, ``project-manager`` or ``ProviderFactory(config_path=...)``.
    """
    environ = process_environ() if environ is None else environ
    found = find_config(path, repo, environ)
    if found is None:
        builtin = BUILTIN_CONFIG if BUILTIN_CONFIG.is_file() else PACKAGED_CONFIG
        config = parse_config(_read_yaml(builtin), "built-in defaults", environ)
        config.source = None
        return config
    config = parse_config(_read_yaml(found), str(found), environ)
    if not config.providers:  # an empty file, or no `providers:`: nothing could ever run
        raise ConfigError(
            f"{found}: defines no providers; add a `providers:` section "
            "(`project-manager setup` writes one)"
        )
    return config


def _read_yaml(path: Path) -> Any:
    """The file's data, bounded (size, UTF-8, depth, no aliases: see ``yaml_files``)."""
    try:
        return read_yaml_file(path)
    except YamlFileError as exc:
        raise ConfigError(str(exc)) from None
