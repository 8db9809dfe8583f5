"""One interface to many models: providers, the factory, fallback, budgets and costs.

Importing this package imports no vendor SDK; each provider imports its own lazily.
"""

from coffee_maker.ai_providers.base import (
    BaseAIProvider,
    Message,
    ProviderCapability,
    ProviderResult,
    ToolCall,
    ToolSpec,
)
from coffee_maker.ai_providers.errors import ErrorKind, ProviderError, classify
from coffee_maker.ai_providers.provider_config import AppConfig, ConfigError, load_config
from coffee_maker.ai_providers.provider_factory import (
    ProviderFactory,
    get_provider,
    register_provider,
)

__all__ = [
    "AppConfig",
    "BaseAIProvider",
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
