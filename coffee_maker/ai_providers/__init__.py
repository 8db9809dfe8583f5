"""One interface to many models: providers, the factory, fallback, budgets and costs.

Importing this package imports no vendor SDK; each provider imports its own lazily. The
names below are loaded on first use too (PEP 562): ``code-developer status`` needs only
the configuration, not the provider classes, the error table or the factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coffee_maker.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from coffee_maker.ai_providers.base import (
        BaseAIProvider,
        ChatRequest,
        Message,
        ProviderCapability,
        ProviderResult,
        ToolCall,
        ToolSpec,
    )
    from coffee_maker.ai_providers.classification import classify
    from coffee_maker.ai_providers.errors import ErrorKind, ProviderError
    from coffee_maker.ai_providers.provider_config import ConfigError, load_config
    from coffee_maker.ai_providers.provider_factory import (
        ProviderFactory,
        get_provider,
        register_provider,
    )
    from coffee_maker.config import AppConfig

#: Each public name and the module that defines it.
_EXPORTS = {
    "AppConfig": "provider_config",
    "BaseAIProvider": "base",
    "ChatRequest": "base",
    "ConfigError": "provider_config",
    "ErrorKind": "errors",
    "Message": "base",
    "ProviderCapability": "base",
    "ProviderError": "errors",
    "ProviderFactory": "provider_factory",
    "ProviderResult": "base",
    "ToolCall": "base",
    "ToolSpec": "base",
    "classify": "classification",
    "get_provider": "provider_factory",
    "load_config": "provider_config",
    "register_provider": "provider_factory",
}

__all__ = [
    "AppConfig",
    "BaseAIProvider",
    "ChatRequest",
    "ConfigError",
    "ErrorKind",
    "Message",
    "ProviderCapability",
    "ProviderError",
    "ProviderFactory",
    "ProviderResult",
    "ToolCall",
    "ToolSpec",
    "classify",
    "get_provider",
    "load_config",
    "register_provider",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
