"""Is a provider reachable? Asked the free way: its vendor's model-listing API.

Used by ``provider status``, ``provider models`` and the setup wizard. Each check runs in
a daemon thread with a deadline, all at once, so one vendor that never answers costs the
user a few seconds, not a hang, and cannot keep the program from exiting.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from coffee_maker.ai_providers.base import BaseAIProvider
    from coffee_maker.ai_providers.provider_config import ProvidersConfig

Outcome = Literal["ok", "error", "skipped", "unchecked"]
#: Seconds a check may overrun the timeout it gave the SDK before we stop waiting.
GRACE = 2.0


@dataclass
class Probe:
    """What one reachability check found; ``detail`` is one short redacted line."""

    outcome: Outcome
    detail: str = ""
    models: list[str] = field(default_factory=list)
    error_kind: str | None = None

    @property
    def usable(self) -> bool:
        return self.outcome in ("ok", "unchecked")

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "detail": self.detail,
            "error_kind": self.error_kind,
            "model_count": len(self.models),
        }


def with_timeout(config: ProvidersConfig, timeout: float) -> ProvidersConfig:
    """A copy of ``config`` whose providers give up after ``timeout`` seconds per request."""
    copy = config.model_copy(deep=True)
    for name, settings in copy.providers.items():
        copy.providers[name] = settings.model_copy(
            update={"timeout": min(settings.timeout, timeout)}
        )
    return copy


def can_list_models(provider: BaseAIProvider) -> bool:
    """Whether the provider's class implements listing (agent CLIs do not)."""
    from coffee_maker.ai_providers.base import BaseAIProvider

    return type(provider).list_models is not BaseAIProvider.list_models


def describe_error(exc: BaseException, provider: str | None = None) -> tuple[str, str]:
    """``(kind, message)`` in the error taxonomy's words, for any exception."""
    from coffee_maker.ai_providers.classification import classify
    from coffee_maker.ai_providers.errors import ProviderError

    error = exc if isinstance(exc, ProviderError) else classify(exc, provider=provider)
    status = f"HTTP {error.status_code}: " if error.status_code else ""
    return error.kind.value, f"{status}{error.message}"[:200]


def probe(provider: BaseAIProvider, timeout: float) -> Probe:
    """List the provider's models within ``timeout`` (+ grace) seconds; never raises."""
    if not can_list_models(provider):
        return Probe("unchecked", "no model-listing API")
    box: dict[str, object] = {}

    def call() -> None:
        try:
            box["models"] = list(provider.list_models())
        except Exception as exc:
            box["error"] = exc

    worker = threading.Thread(target=call, name=f"probe-{provider.name}", daemon=True)
    worker.start()
    worker.join(timeout + GRACE)
    return _result(provider.name, box, timeout)


def _result(name: str, box: dict[str, object], timeout: float) -> Probe:
    if "models" in box:
        models = box["models"]
        assert isinstance(models, list)
        from coffee_maker.wording import count_of

        return Probe("ok", f"{count_of(len(models), 'model')} listed", models=models)
    error = box.get("error")
    if isinstance(error, BaseException):
        kind, message = describe_error(error, name)
        return Probe("error", message, error_kind=kind)
    return Probe("error", f"no answer within {timeout:g}s", error_kind="timeout")


def probe_all(providers: Sequence[BaseAIProvider], timeout: float) -> dict[str, Probe]:
    """Probe every provider at the same time; results keyed by provider name."""
    results: dict[str, Probe] = {}
    lock = threading.Lock()

    def run(provider: BaseAIProvider) -> None:
        found = probe(provider, timeout)
        with lock:
            results[provider.name] = found

    threads = [
        threading.Thread(target=run, args=(p,), name=f"probe-all-{p.name}", daemon=True)
        for p in providers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 2 * GRACE)
    with lock:
        for provider in providers:
            results.setdefault(provider.name, _result(provider.name, {}, timeout))
        return dict(results)
