"""The one interface every model is reached through.

Messages, tool specs and results are provider-neutral dataclasses (``messages.py``,
re-exported here); each provider module translates them to and from its vendor's wire
format.

A call is one :class:`~coffee_maker.ai_providers.chat_request.ChatRequest`; a provider
implements one hook, ``_complete(request)``, and (for an SDK) ``_make_client()``. The base
class does the rest once for all of them: builds the request from ``chat``'s arguments,
keeps the lazily built client, bounds the call (deadline, reply cap, cancellation on a
stop) and classifies whatever it raises into the one error taxonomy.
"""

from __future__ import annotations

import contextlib
import enum
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from coffee_maker.ai_providers.chat_request import ChatRequest
from coffee_maker.ai_providers.messages import (
    ARGUMENTS_ERROR,
    RAW_ARGUMENTS,
    USAGE_KEYS,
    Message,
    ProviderResult,
    StopReason,
    ToolCall,
    ToolSpec,
    add_usage,
    make_usage,
)

if TYPE_CHECKING:
    from coffee_maker.ai_providers.errors import ProviderError
    from coffee_maker.ai_providers.pricing import Price
    from coffee_maker.ai_providers.provider_config import ProviderSettings

__all__ = [
    "ARGUMENTS_ERROR",
    "RAW_ARGUMENTS",
    "USAGE_KEYS",
    "BaseAIProvider",
    "ChatRequest",
    "Message",
    "PromptAsChat",
    "ProviderCapability",
    "ProviderResult",
    "StopReason",
    "ToolCall",
    "ToolSpec",
    "add_usage",
    "make_usage",
]


class ProviderCapability(enum.StrEnum):
    TEXT = "text"
    TOOLS = "tools"  # native function calling
    STREAMING = "streaming"
    PROMPT_CACHING = "prompt_caching"
    AGENTIC = "agentic"  # edits files itself given a working directory (CLI agents)
    COUNT_TOKENS = "count_tokens"  # exact counts from the vendor
    FREE = "free"  # costs nothing (local models): may run when the budget is spent


#: What decoding a reply that is not the vendor's format raises (JSON, pydantic, lookups).
DECODING_ERRORS = (AssertionError, AttributeError, IndexError, KeyError, TypeError, ValueError)


class PromptAsChat:
    """``execute_prompt``, the specification's single-prompt call, as a one-message ``chat``.

    Shared by providers and by FallbackStrategy, which has the same face.
    """

    def execute_prompt(
        self,
        prompt: str,
        system_prompt: str | None = None,
        working_dir: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> ProviderResult:
        return self.chat(  # type: ignore[attr-defined]
            [Message.user(prompt)],
            system_prompt=system_prompt,
            working_dir=working_dir,
            timeout=timeout,
            **kwargs,
        )


class BaseAIProvider(PromptAsChat, ABC):
    """A configured connection to one vendor (one provider entry of the config).

    Subclasses implement :meth:`_complete` (one call from a :class:`ChatRequest`),
    :meth:`check_available` and, when they talk through an SDK, :meth:`_make_client`. The
    SDK is imported there, never at module import time, so the CLI starts fast. A class
    that overrides :meth:`chat` instead (the older interface) still works.
    """

    #: The provider type this class implements (``claude``, ``openai``, ...).
    provider_type: str = ""
    #: What every instance can do; a config may narrow it.
    default_capabilities: frozenset[ProviderCapability] = frozenset({ProviderCapability.TEXT})
    #: Calls go over HTTP sockets the base class can bound and cut (False: a subprocess).
    bounded_io: bool = True

    def __init__(self, settings: ProviderSettings, name: str | None = None) -> None:
        self.settings = settings
        self._name = name or settings.name
        self.model: str = settings.model or ""
        self._client: Any = None
        self._client_lock = threading.Lock()

    # -- identity ------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> frozenset[ProviderCapability]:
        return self.default_capabilities

    def supports_capability(self, capability: ProviderCapability | str) -> bool:
        return ProviderCapability(capability) in self.capabilities

    @property
    def is_free(self) -> bool:
        """Costs nothing (a local model): may still run when the budget is spent."""
        return ProviderCapability.FREE in self.capabilities or self.price().is_free

    def with_model(self, model: str) -> BaseAIProvider:
        """A provider identical to this one but calling ``model`` (for model fallback)."""
        clone = type(self)(self.settings.model_copy(update={"model": model}), name=self._name)
        return clone

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} model={self.model!r}>"

    # -- the vendor's client -------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The vendor's SDK client, built by :meth:`_make_client` on first use and kept
        (importing an SDK costs up to a second; a dropped client may close a live call)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> Any:
        """Build the SDK client: no SDK retries (the fallback retries), the I/O bounded."""
        raise NotImplementedError(f"{type(self).__name__} has no client")

    # -- calls -----------------------------------------------------------------------------
    def chat(
        self,
        messages: Sequence[Message] | ChatRequest | None = None,
        tools: Sequence[ToolSpec] | None = None,
        *,
        request: ChatRequest | None = None,
        **options: Any,
    ) -> ProviderResult:
        """One model call: the conversation so far in, one assistant turn out.

        ``options`` are the other :class:`ChatRequest` fields (``system_prompt``,
        ``max_tokens``, ``temperature``, ``timeout``, ``working_dir``); a ready request
        may be passed instead of the conversation, or as ``request=``.
        """
        return self.complete(ChatRequest.build(messages, tools, request, **options))

    def complete(self, request: ChatRequest) -> ProviderResult:
        """Make the call ``request`` describes, through the provider's :meth:`_complete`."""
        with self.vendor_call(request.timeout):
            return self._complete(request)

    def _complete(self, request: ChatRequest) -> ProviderResult:
        """One call to the vendor. Raise what the SDK raises: the base class classifies it."""
        if type(self).chat is BaseAIProvider.chat:
            raise NotImplementedError(f"{type(self).__name__} implements no _complete()")
        messages, tools = list(request.messages), list(request.tools) or None
        return self.chat(messages, tools, **request.options())  # an older provider

    @contextlib.contextmanager
    def vendor_call(self, timeout: float | None = None) -> Iterator[None]:
        """Any request to the vendor (a chat, listing models, counting tokens): under the
        provider's deadline and reply cap, cut short by a stop, and whatever it raises
        turned into a :class:`~coffee_maker.ai_providers.errors.ProviderError` once."""
        try:
            if type(self)._make_client is not BaseAIProvider._make_client:
                _ = self.client  # outside the deadline: importing an SDK takes no vendor time
            if self.bounded_io:
                from coffee_maker.ai_providers.providers._bounded import bounded_call

                with bounded_call(self, timeout):
                    yield
            else:
                yield
        except Exception as exc:
            error = self.classify_error(exc)
            if error is exc:
                raise
            raise error from exc

    def classify_error(self, exc: Exception) -> ProviderError:
        """``exc`` in the error taxonomy; a reply that is not the vendor's format (a proxy's
        HTML page, truncated JSON) is a ``bad_response``, named after the vendor."""
        from coffee_maker.ai_providers.classification import classify
        from coffee_maker.ai_providers.errors import BadResponseError, ProviderError

        if isinstance(exc, ProviderError) or not isinstance(exc, DECODING_ERRORS):
            return classify(exc, provider=self.name, model=self.model)
        return BadResponseError(
            f"unexpected reply from {self.provider_type or self.name} "
            f"({type(exc).__name__}: {exc})",
            provider=self.name,
            model=self.model,
            cause=exc,
        )

    @abstractmethod
    def check_available(self) -> bool:
        """True when the provider is configured (key present, binary found).

        Cheap and offline: it does not spend money. Reachability is checked by
        ``project-manager provider status``.
        """

    def list_models(self) -> list[str]:
        """Model ids the vendor's API lists (``provider models``, reachability checks).

        Free of charge. Providers that cannot list (agent CLIs) return an empty list.
        """
        return []

    def reset_context(self) -> None:
        """Forget any conversation state kept between calls (CLI sessions)."""
        return None

    # -- tokens and money ----------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        from coffee_maker.ai_providers.tokens import count_tokens

        return count_tokens(text, self.model)

    def max_output_tokens(self) -> int:
        return int(self.settings.max_tokens)

    def price(self, model: str | None = None) -> Price:
        from coffee_maker.ai_providers.pricing import get_price_table

        return get_price_table().price_for(
            self.name, self.provider_type, model or self.model, self.settings.price_override()
        )

    def estimate_cost(
        self,
        prompt: str,
        system_prompt: str | None = None,
        max_output_tokens: int | None = None,
    ) -> float:
        """Worst-case cost of one call: counted input plus the full output allowance."""
        input_tokens = self.count_tokens(prompt) + (
            self.count_tokens(system_prompt) if system_prompt else 0
        )
        output = self.max_output_tokens() if max_output_tokens is None else max_output_tokens
        return self.worst_case_cost(input_tokens, output)

    def cost_of(self, usage: dict[str, int], model: str | None = None) -> float:
        return self.price(model).cost(usage)

    def worst_case_cost(self, input_tokens: int, output_tokens: int) -> float:
        """The most one call can cost: what the budget reserves before making it."""
        return self.cost_of(make_usage(input_tokens, output_tokens))

    # -- keys ----------------------------------------------------------------------------
    #: Environment variable read for the key when the config names none.
    default_api_key_env: str | None = None

    @property
    def api_key_env(self) -> str | None:
        return self.settings.api_key_env or self.default_api_key_env

    def api_key(self) -> str | None:
        env = self.api_key_env
        if not env:
            return None
        return os.environ.get(env) or None

    def require_api_key(self) -> str:
        """The key, registered for redaction; an AuthenticationError naming the env var if unset."""
        from coffee_maker.ai_providers.errors import AuthenticationError
        from coffee_maker.secrets import register_secret_value

        key = self.api_key()
        if not key:
            raise AuthenticationError(
                f"{self.api_key_env} is not set", provider=self.name, model=self.model
            )
        register_secret_value(key)
        return key

    def describe_unavailable(self) -> str:
        """Why :meth:`check_available` is False, in words for the user."""
        env = self.api_key_env
        if env and not self.api_key():
            return f"{env} is not set"
        return "not configured"
