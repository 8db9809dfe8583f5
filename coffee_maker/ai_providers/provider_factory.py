"""From a provider name in the config to a ready provider object.

Provider types are registered as ``"module:Class"`` strings and imported on first use,
so nothing here imports a vendor SDK: ``code-developer --help`` stays fast.
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import TYPE_CHECKING

from coffee_maker.ai_providers.provider_config import ConfigError, ProvidersConfig, load_config
from coffee_maker.secrets import register_secret_names

if TYPE_CHECKING:
    from coffee_maker.ai_providers.base import BaseAIProvider

_PROVIDERS = "coffee_maker.ai_providers.providers"

#: Built-in provider types. ``register_provider`` adds more (or replaces one).
_REGISTRY: dict[str, str | type[BaseAIProvider]] = {
    "claude": f"{_PROVIDERS}.claude_provider:ClaudeProvider",
    "claude-cli": f"{_PROVIDERS}.claude_cli_provider:ClaudeCLIProvider",
    "codex-cli": f"{_PROVIDERS}.codex_cli_provider:CodexCLIProvider",
    "gemini-cli": f"{_PROVIDERS}.gemini_cli_provider:GeminiCLIProvider",
    "openai": f"{_PROVIDERS}.openai_provider:OpenAIProvider",
    "gemini": f"{_PROVIDERS}.gemini_provider:GeminiProvider",
    "ollama": f"{_PROVIDERS}.ollama_provider:OllamaProvider",
}
_registry_lock = threading.Lock()


def register_provider(type_name: str, cls: type[BaseAIProvider] | str) -> None:
    """Make ``type_name`` usable as a provider ``type`` (or name) in the config."""
    with _registry_lock:
        _REGISTRY[type_name] = cls


def provider_types() -> list[str]:
    """Every provider ``type`` the config may name: the one list of them."""
    return sorted(_REGISTRY)


def check_provider_type(type_name: str) -> None:
    """A ConfigError naming the known types when ``type_name`` is none of them."""
    if type_name not in _REGISTRY:
        raise ConfigError(
            f"unknown provider type {type_name!r} (known: {', '.join(provider_types())})"
        )


def provider_class(type_name: str) -> type[BaseAIProvider]:
    check_provider_type(type_name)
    entry = _REGISTRY[type_name]
    if isinstance(entry, str):
        module_name, _, class_name = entry.partition(":")
        entry = getattr(importlib.import_module(module_name), class_name)
        with _registry_lock:
            _REGISTRY[type_name] = entry
    return entry


class ProviderFactory:
    """Builds and caches the providers a config describes.

    ``get_provider`` refuses, with a :class:`ConfigError` naming the key, a provider
    that is unknown, disabled, of an unknown type, or missing its API key.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        config: ProvidersConfig | None = None,
        repo: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config = config if config is not None else load_config(config_path, repo)
        self._instances: dict[str, BaseAIProvider] = {}  # checked by get_provider
        self._built: dict[str, BaseAIProvider] = {}
        self._lock = threading.Lock()
        register_secret_names(
            p.api_key_env for p in self.config.providers.values() if p.api_key_env
        )
        register_secret_names([self.config.github.token_env, *self.config.agent.secret_env])

    @property
    def source(self) -> str:
        return self.config.source or "built-in defaults"

    def provider_names(self) -> list[str]:
        return list(self.config.providers)

    @staticmethod
    def register_provider(name: str, cls: type[BaseAIProvider] | str) -> None:
        """Register a provider type; callable on the class (as the README shows) or an instance."""
        register_provider(name, cls)

    def create(self, name: str) -> BaseAIProvider:
        """A new provider for config entry ``name``, without the availability check."""
        settings = self.config.providers.get(name)
        if settings is None:
            if name in _REGISTRY:
                raise ConfigError(
                    f"{self.source}: providers.{name}: not configured "
                    f"(add a `{name}:` entry under providers)"
                )
            known = ", ".join(self.config.providers) or "none"
            raise ConfigError(f"unknown provider {name!r} (configured in {self.source}: {known})")
        try:
            cls = provider_class(settings.type)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: providers.{name}.type: {exc}") from None
        provider = cls(settings, name=name)
        register_secret_names([provider.api_key_env] if provider.api_key_env else [])
        return provider

    def built(self, name: str) -> BaseAIProvider:
        """The one provider object kept for ``name``, built on first use; no check made
        (a ConfigError only when the config cannot build it at all)."""
        with self._lock:
            if name in self._built:
                return self._built[name]
        provider = self.create(name)
        with self._lock:
            return self._built.setdefault(name, provider)

    def get_provider(self, name: str | None = None) -> BaseAIProvider:
        """The configured provider ``name`` (default: ``default_provider``), ready to call."""
        name = name or self.config.default_provider
        if not name:
            raise ConfigError(f"{self.source}: default_provider: no provider is configured")
        with self._lock:
            if name in self._instances:
                return self._instances[name]
        settings = self.config.providers.get(name)
        if settings is not None and not settings.enabled:
            raise ConfigError(f"{self.source}: providers.{name}.enabled is false")
        provider = self.built(name)
        problem = self.unavailable_reason(provider)
        if problem:
            raise ConfigError(problem)
        with self._lock:
            return self._instances.setdefault(name, provider)

    def unavailable_reason(self, provider: BaseAIProvider) -> str | None:
        """Why ``provider`` cannot be used (offline: key, binary, model), or None; the
        whole answer, cooldowns and budget included, is ``FallbackStrategy.usability``."""
        if provider.check_available():
            return None
        reason = provider.describe_unavailable()
        env = provider.api_key_env
        if env and reason == f"{env} is not set":
            from coffee_maker.ai_providers.env_file import default_env_file

            return (
                f"{self.source}: providers.{provider.name}.api_key_env: {env} is not set "
                f"in the environment or {default_env_file()}"
            )
        return f"{self.source}: providers.{provider.name}: not available ({reason})"

    def list_available_providers(self) -> list[str]:
        """Enabled providers whose key (or binary) is present, in fallback order."""
        available = []
        for name in self.config.provider_order():
            settings = self.config.providers[name]
            if not settings.enabled:
                continue
            try:
                provider = self.create(name)
            except ConfigError:
                continue
            if provider.check_available():
                available.append(name)
        return available


_default_factory: ProviderFactory | None = None


def get_provider(name: str | None = None) -> BaseAIProvider:
    """``ProviderFactory().get_provider(name)`` with the config found by the usual lookup."""
    global _default_factory
    if _default_factory is None:
        _default_factory = ProviderFactory()
    return _default_factory.get_provider(name)
