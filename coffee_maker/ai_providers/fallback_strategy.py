"""A chain of providers with the face of one: retries, model and provider fallback, budgets.

The agent talks to "a model"; behind it this strategy walks the provider chain (the list
passed in, else ``first`` or the default provider, then ``fallback_order`` or every enabled
provider) and, within each provider, its ``model`` then ``fallback_models``. What happens on
each error is the table in :data:`coffee_maker.ai_providers.errors.ACTIONS` (for users:
docs/AI_PROVIDERS.md, "What happens when a call fails"):

- transient (rate limited, overloaded, 5xx, timeout, connection): exponential backoff with
  jitter (``retry_delay`` doubling, capped at ``max_retry_delay``), ``retry_attempts`` calls
  per model in all, Retry-After honoured; a Retry-After beyond ``max_retry_delay`` is not
  waited for: the provider cools down until then and the chain moves on
  (:class:`~coffee_maker.ai_providers.fallback_retry.RetryPolicy`);
- quota exhausted: no retry, the provider cools down until its reset (persisted, so a
  restarted daemon skips it too); authentication: disabled for this process, logged loudly;
  context too long: the next model; other bad requests: the next provider;
- a circuit breaker, across calls: a provider that failed to answer ``cooldown_failures``
  calls in a row (after its retries and models, with transient errors) is skipped for
  ``cooldown_seconds``;
- before every attempt the call's worst case is reserved against the budget; a call that
  does not fit is not made (free providers always fit). After it, the real cost settles the
  reservation. Every call, failed or not, is in the ledger.

A provider is skipped, before any call, for the reason :meth:`FallbackStrategy.usability`
gives (``usability.py``: its key, a cooldown, a used-up request quota, a spent budget),
the same words ``--dry-run`` and ``provider status`` show.

Every attempt, wait, switch and skip is a :class:`FallbackEvent` in :attr:`events`, logged,
and attached to the answer as ``result.metadata["fallback_events"]``. Retries happen here
only: providers make exactly one HTTP request per call. A call's :class:`ChatRequest` is
built once and handed unchanged to every provider and model tried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from coffee_maker.ai_providers.base import (
    BaseAIProvider,
    ChatRequest,
    Message,
    PromptAsChat,
    ProviderCapability,
    ProviderResult,
    ToolSpec,
)
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.errors import ErrorKind, ProviderError
from coffee_maker.ai_providers.fallback_events import (
    AllProvidersFailedError,
    FallbackConfig,
    FallbackEvent,
    ProviderAttempt,
)
from coffee_maker.ai_providers.fallback_retry import RetryPolicy
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.ai_providers.quotas import ProviderGate, ProviderStateStore, RateLimiter
from coffee_maker.ai_providers.usability import Usability, explain, explain_all
from coffee_maker.paths import user_state_dir

__all__ = [
    "AllProvidersFailedError",
    "FallbackConfig",
    "FallbackEvent",
    "FallbackStrategy",
    "ProviderAttempt",
    "Usability",
]

log = logging.getLogger(__name__)


@dataclass
class _Walk:
    """One request's way down the chain: what was learnt while walking it."""

    request: ChatRequest
    calls: dict[tuple[str, str], int] = field(default_factory=dict)
    worst_cases: dict[tuple[str, str], float] = field(default_factory=dict)


@dataclass
class _Shared:
    """State a strategy shares with its :meth:`FallbackStrategy.restricted` views."""

    tracker: CostTracker | None
    task_id: str | None
    gate: ProviderGate
    events: list[FallbackEvent] = field(default_factory=list)
    models: dict[tuple[str, str], BaseAIProvider] = field(default_factory=dict)


class FallbackStrategy(PromptAsChat):
    """Looks like one provider; is a chain of them. See the module docstring."""

    name = "fallback"

    def __init__(
        self,
        config: FallbackConfig | None,
        factory: ProviderFactory,
        cost_tracker: CostTracker | None = None,
        *,
        first: str | None = None,
        task_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        _shared: _Shared | None = None,
        _predicate: Callable[[BaseAIProvider], bool] | None = None,
        _order: Sequence[str] | None = None,
    ) -> None:
        self.config = config or FallbackConfig.from_settings(factory.config.fallback)
        self.factory = factory
        self.first = first
        self.sleep = sleep
        self.clock = clock
        if _shared is None:
            home = cost_tracker.path.parent if cost_tracker is not None else user_state_dir()
            gate = ProviderGate(
                cost_tracker,
                ProviderStateStore(home, clock=clock),
                RateLimiter(clock, sleep),
                emit=self._event,
                clock=clock,
                cooldown_failures=self.config.cooldown_failures,
                cooldown_seconds=self.config.cooldown_seconds,
                max_retry_delay=self.config.max_retry_delay,
            )
            _shared = _Shared(cost_tracker, task_id, gate)
        self._shared = _shared
        self.gate = _shared.gate
        self._predicate = _predicate
        self._order = list(_order) if _order else None
        self._retrying = RetryPolicy(self.config, sleep, self.gate.is_cooling, self._waiting)

    # -- shared state ------------------------------------------------------------------------
    @property
    def cost_tracker(self) -> CostTracker | None:
        return self._shared.tracker

    @property
    def events(self) -> list[FallbackEvent]:
        """Every event of this strategy and its restricted views, oldest first."""
        return self._shared.events

    @property
    def task_id(self) -> str | None:
        return self._shared.task_id

    def set_task(self, task_id: str | None) -> None:
        """Charge later calls to ``task_id`` (its ``per_task_limit``)."""
        self._shared.task_id = task_id

    def restricted(
        self, predicate: Callable[[BaseAIProvider], bool], order: Sequence[str] | None = None
    ) -> FallbackStrategy:
        """The same chain (tracker, cooldowns, events, task) limited to providers matching
        ``predicate``, e.g. ``lambda p: p.supports_capability("tools")``; ``order``: walk
        these names instead of the configured chain (a routing tier)."""
        outer = self._predicate
        if outer is not None:
            inner = predicate
            predicate = lambda p: outer(p) and inner(p)  # noqa: E731
        return FallbackStrategy(
            self.config,
            self.factory,
            first=self.first,
            sleep=self.sleep,
            clock=self.clock,
            _shared=self._shared,
            _predicate=predicate,
            _order=order or self._order,
        )

    # -- the chain -----------------------------------------------------------------------------
    def chain(self, provider_names: Sequence[str] | None = None) -> list[str]:
        """Provider names in the order they will be tried: ``provider_names``; else ``first``
        (``--provider``) or the default provider (``provider switch``), then
        ``fallback_order`` (or every enabled provider). Only the first when fallback is off."""
        if provider_names or self._order:
            order = list(provider_names or self._order or [])
        elif self.config.fallback_order:
            lead = self.first or self.factory.config.default_provider or ""
            order = [lead, *self.config.fallback_order]
        else:
            order = self.factory.config.provider_order(self.first)
        order = list(dict.fromkeys(n for n in order if n))
        return order if self.config.enabled else order[:1]

    def usability(self, name: str, *, probe_timeout: float | None = None) -> Usability:
        """Whether ``name`` may be called now, and if not why and until when: the one
        answer the chain, ``--dry-run`` and ``provider status`` give (``usability.py``).
        ``probe_timeout``: also ask the vendor (a free model listing) if it answers."""
        return self.usability_all([name], probe_timeout=probe_timeout)[name]

    def usability_all(
        self, names: Sequence[str] | None = None, *, probe_timeout: float | None = None
    ) -> dict[str, Usability]:
        """:meth:`usability` for each of ``names`` (default: the chain), probes at once."""
        names = self.chain() if names is None else names
        return explain_all(
            names, self.factory, self.gate, self.cost_tracker, self.task_id, probe_timeout
        )

    def _usable(self, name: str) -> tuple[BaseAIProvider | None, ProviderAttempt | None]:
        """The provider, or why it is skipped (``(None, None)``: filtered out silently)."""
        verdict = explain(
            name, self.factory, self.gate, self.cost_tracker, self.task_id, fresh=False
        )
        if not verdict.usable:
            return None, verdict.attempt()
        provider = self.factory.built(name)  # usable: configured, enabled, available
        if self._predicate is not None and not self._predicate(provider):
            return None, None
        return provider, None

    def providers(self, provider_names: Sequence[str] | None = None) -> list[BaseAIProvider]:
        """The providers that would be tried now, in order (skipped ones left out)."""
        return [p for p in (self._usable(n)[0] for n in self.chain(provider_names)) if p]

    # -- the face of a provider ----------------------------------------------------------------
    def _lead(self) -> BaseAIProvider | None:
        usable = self.providers()
        return usable[0] if usable else None

    @property
    def capabilities(self) -> frozenset[ProviderCapability]:
        """The capabilities of the provider that would answer first."""
        lead = self._lead()
        return lead.capabilities if lead else frozenset()

    def supports_capability(self, capability: ProviderCapability | str) -> bool:
        return ProviderCapability(capability) in self.capabilities

    @property
    def model(self) -> str:
        lead = self._lead()
        return lead.model if lead else ""

    def count_tokens(self, text: str) -> int:
        from coffee_maker.ai_providers.tokens import count_tokens

        lead = self._lead()
        return lead.count_tokens(text) if lead else count_tokens(text)

    def estimate_cost(
        self, prompt: str, system_prompt: str | None = None, max_output_tokens: int | None = None
    ) -> float:
        lead = self._lead()
        return lead.estimate_cost(prompt, system_prompt, max_output_tokens) if lead else 0.0

    def check_available(self) -> bool:
        return bool(self.providers())

    def reset_context(self) -> None:
        for provider in [*self.providers(), *self._shared.models.values()]:
            provider.reset_context()

    def execute_with_fallback(
        self,
        prompt: str,
        system_prompt: str | None = None,
        working_dir: str | None = None,
        timeout: float | None = None,
        provider_names: Sequence[str] | None = None,
    ) -> ProviderResult:
        """The specification's entry point: one prompt through the chain."""
        return self.execute_prompt(
            prompt, system_prompt, working_dir, timeout, provider_names=provider_names
        )

    def chat(
        self,
        messages: Sequence[Message] | ChatRequest | None = None,
        tools: Sequence[ToolSpec] | None = None,
        *,
        provider_names: Sequence[str] | None = None,
        request: ChatRequest | None = None,
        **options: Any,
    ) -> ProviderResult:
        """One assistant turn from the first provider and model that can give it.

        Takes what :meth:`BaseAIProvider.chat` takes (a conversation and the
        :class:`ChatRequest` options, or a request), and ``provider_names`` to walk instead
        of the configured chain. Raises :class:`AllProvidersFailedError` naming, per
        provider, why it was skipped or how it failed.
        """
        walk = _Walk(ChatRequest.build(messages, tools, request, **options))
        start = len(self.events)
        attempts: list[ProviderAttempt] = []
        for name in self.chain(provider_names):
            provider, skipped = self._usable(name)
            if skipped is not None:
                attempts.append(skipped)
                self._event("skip", name, None, skipped.error_kind, message=skipped.reason)
            if provider is None:
                continue
            result = self._try_provider(provider, walk, attempts)
            if result is not None:
                result.metadata["fallback_events"] = [e.to_dict() for e in self.events[start:]]
                return result
        raise AllProvidersFailedError(attempts)

    # -- one provider, its models ------------------------------------------------------------
    def _with_model(self, provider: BaseAIProvider, model: str) -> BaseAIProvider:
        if not model or model == provider.model:
            return provider
        key = (provider.name, model)
        if key not in self._shared.models:
            self._shared.models[key] = provider.with_model(model)
        return self._shared.models[key]

    def _try_provider(
        self, provider: BaseAIProvider, walk: _Walk, attempts: list[ProviderAttempt]
    ) -> ProviderResult | None:
        """Its models in order; None (and the reason in ``attempts``) if none answered."""
        name, outcomes = provider.name, []
        errors: list[ProviderError] = []
        retry_at: float | None = None
        models = list(dict.fromkeys([provider.model, *provider.settings.fallback_models]))
        for index, model in enumerate(models):
            candidate = self._with_model(provider, model)
            if index:
                self._event("switch", name, model, errors[-1].kind, message="next model")
            try:
                return self._retrying(self._call_once, candidate, walk)
            except ProviderError as err:
                errors.append(err)
                calls = walk.calls.get((name, candidate.model), 0)
                tried = f" ({calls} calls)" if calls > 1 else ""
                outcomes.append(f"{candidate.model}: {err.describe()}{tried}")
                retry_at, next_model = self.gate.after_failure(candidate, err)
                if not next_model:
                    break
        transient = next((e for e in errors if e.retryable), None)
        if transient is not None:
            self.gate.gave_up(provider, transient)
            cooldown = self.gate.store.cooldown(name)
            retry_at = cooldown.until if cooldown else retry_at
        kind = errors[-1].kind.value if errors else None
        limit = getattr(errors[-1], "limit", None) if errors else None
        attempts.append(
            ProviderAttempt(name, "; ".join(outcomes), kind, retry_at=retry_at, budget_limit=limit)
        )
        self._event("switch", name, None, kind, message="next provider")
        return None

    def _waiting(self, provider: BaseAIProvider, err: ProviderError | None, wait: float) -> None:
        kind = err.kind if err is not None else None
        self._event("wait", provider.name, provider.model, kind, wait, f"retry in {wait:.1f}s")

    # -- one call -------------------------------------------------------------------------------
    def _worst_case(self, provider: BaseAIProvider, walk: _Walk) -> float:
        """Counted input plus the whole output allowance, at the model's prices."""
        if self.cost_tracker is None or provider.is_free:
            return 0.0
        key = (provider.name, provider.model)
        if key not in walk.worst_cases:
            output = walk.request.max_tokens or provider.max_output_tokens()
            input_tokens = provider.count_tokens(walk.request.text())
            walk.worst_cases[key] = provider.worst_case_cost(input_tokens, output)
        return walk.worst_cases[key]

    def _call_once(self, provider: BaseAIProvider, walk: _Walk) -> ProviderResult:
        """One call: admitted by the gate (budget, quotas, rpm), made, and accounted for.

        The provider classifies its own errors (``BaseAIProvider.complete``)."""
        ttl = 2 * (walk.request.timeout or provider.settings.timeout) + 60
        amount = self._worst_case(provider, walk)
        reservation = self.gate.admit(provider, amount, self.task_id, ttl)
        key = (provider.name, provider.model)
        walk.calls[key] = walk.calls.get(key, 0) + 1
        self._event("attempt", provider.name, provider.model, message=f"call {walk.calls[key]}")
        try:
            result = provider.complete(walk.request)
        except ProviderError as err:
            self.gate.failed(provider, err, reservation)
            raise
        except BaseException:
            self.gate.release(reservation)
            raise
        result.provider = result.provider or provider.name
        result.model = result.model or provider.model
        self.gate.succeeded(provider, result, reservation)
        return result

    # -- events ---------------------------------------------------------------------------------
    def _event(
        self,
        kind: str,
        provider: str,
        model: str | None,
        error_kind: ErrorKind | str | None = None,
        wait: float | None = None,
        message: str = "",
    ) -> None:
        event = FallbackEvent(
            kind, provider, model, str(error_kind) if error_kind else None, wait, message,
            self.clock(),
        )  # fmt: skip
        self._shared.events.append(event)
        if log.isEnabledFor(event.level):
            log.log(event.level, event.describe(), extra={"fallback_event": event.to_dict()})
