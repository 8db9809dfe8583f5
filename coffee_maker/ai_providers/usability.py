"""Is a provider usable now, and if not, why and until when: one answer for every reader.

The fallback chain's skip decision, ``code-developer --dry-run`` and ``project-manager
provider status`` all render what :func:`explain` finds (through
:meth:`FallbackStrategy.usability`), so they cannot disagree. It looks, in this order, and
the first thing that stops the provider is the ``reason`` (one line naming what to fix or
how long to wait):

1. configured: an entry under ``providers:`` whose ``type`` is known;
2. enabled: ``providers.NAME.enabled``;
3. available, offline: its key is set (the variable is named, never its value), its CLI
   is on PATH, its model is named (each provider's ``check_available``);
4. not disabled after its key was refused, in this process;
5. no cooldown running: a quota the vendor reported used up (requests or tokens, until
   its reset), a Retry-After too long to wait for, the circuit breaker;
6. its request quotas (``daily_requests``, ``monthly_requests``) not used up; ``rpm`` only
   makes calls wait, it never skips a provider;
7. the budget: a paid provider needs something left under ``cost_controls``' daily,
   monthly and per-task limits; a free one (a local model) is exempt;
8. reachable, only when asked (``probe_timeout``): a probe is a request to the vendor's
   free model listing, so only ``provider status`` pays for it.

Every facet is filled in even after the first problem (a table shows them all).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from coffee_maker.ai_providers.config_env import ConfigError
from coffee_maker.ai_providers.env_file import from_env_file
from coffee_maker.ai_providers.fallback_events import ProviderAttempt

if TYPE_CHECKING:
    from coffee_maker.ai_providers.base import BaseAIProvider
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.probe import Probe
    from coffee_maker.ai_providers.provider_factory import ProviderFactory
    from coffee_maker.ai_providers.quotas import ProviderGate

#: What stopped a provider -> the error kind its skip is reported with (ProviderAttempt).
_ATTEMPT_KIND = {
    "config": "config",
    "disabled": "config",
    "unavailable": "config",
    "key": "config",
    "auth": "auth",
    "cooldown": "cooldown",
    "quota": "quota_exhausted",
    "budget": "budget_exceeded",
    "unreachable": "connection",
}


def when(moment: datetime) -> str:
    """``2026-11-04 00:00:00 UTC``: how every rendering writes an ``until``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class KeyState:
    """Which variable holds the key, whether it is set and where from (never the value)."""

    env: str | None
    present: bool
    source: str | None = None  # "environment" or "env file" when present


@dataclass(frozen=True)
class RequestQuota:
    """Requests counted against the configured quotas (UTC day and month)."""

    today: int
    daily_limit: int | None
    this_month: int
    monthly_limit: int | None
    rpm: int | None


@dataclass(frozen=True)
class Usability:
    """One provider's answer. ``kind`` names what stops it (``ok`` when nothing does):
    ``config``, ``disabled``, ``unavailable``, ``key``, ``auth``, ``cooldown``, ``quota``,
    ``budget`` or ``unreachable``; ``until`` is when waiting is enough, when known."""

    provider: str
    usable: bool
    reason: str
    until: datetime | None = None
    kind: str = "ok"
    enabled: bool = True
    free: bool | None = None  # looked up only when the budget is spent (exempt if True)
    key: KeyState | None = None
    cooldown: str | None = None  # why, while one runs
    cooldown_until: datetime | None = None
    requests: RequestQuota | None = None
    budget_limit: str | None = None  # per_task, daily or monthly, when the budget says no
    reach: Probe | None = None  # None: not asked

    @property
    def line(self) -> str:
        """``usable`` or ``not usable: REASON``, the words every rendering uses."""
        return "usable" if self.usable else f"not usable: {self.reason}"

    def attempt(self) -> ProviderAttempt:
        """The fallback chain's record of skipping this provider."""
        return ProviderAttempt(
            self.provider,
            self.reason,
            _ATTEMPT_KIND.get(self.kind, self.kind),
            retry_at=self.until.timestamp() if self.until else None,
            budget_limit=self.budget_limit,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: datetimes as ISO 8601 UTC, the probe as its own dict."""
        iso = lambda d: d.isoformat(timespec="seconds") if d else None  # noqa: E731
        return {
            "usable": self.usable,
            "reason": self.reason,
            "until": iso(self.until),
            "kind": self.kind,
            "free": self.free,
            "budget_limit": self.budget_limit,
        }


def _key(provider: BaseAIProvider) -> KeyState:
    env = provider.api_key_env
    present = bool(env and os.environ.get(env))
    source = ("env file" if from_env_file(env or "") else "environment") if present else None
    return KeyState(env, present, source)


def _budget(
    tracker: CostTracker, task_id: str | None, fresh: bool
) -> tuple[str, str, datetime | None] | None:
    """(limit, one line, reset) when the budget has nothing left for a paid call."""
    from coffee_maker.ai_providers.cost_tracker import money

    spent = tracker.exhausted(task_id, fresh=fresh)
    if spent is None:
        return None
    reset = spent.resets_at
    wait = f"; it resets at {when(reset)}" if reset else " for this task"
    line = (
        f"budget: cost_controls.{spent.limit}_limit {money(spent.limit_value)} is used up "
        f"(spent {money(spent.spent)}, reserved {money(spent.reserved)}){wait}; "
        f"raise the limit or use a free provider"
    )
    return spent.limit, line, reset


def explain(
    name: str,
    factory: ProviderFactory,
    gate: ProviderGate,
    tracker: CostTracker | None,
    task_id: str | None = None,
    reach: Probe | None = None,
    *,
    fresh: bool = True,
) -> Usability:
    """Whether ``name`` may be called now, every facet, and the first reason it may not.

    ``reach`` is a probe already made (see :func:`explain_all`); None: not asked.
    ``fresh=False`` (the chain, about to reserve) reads the budget as the tracker last
    saw it instead of re-reading the ledger: the reservation re-reads it anyway.
    """
    settings = factory.config.providers.get(name)
    try:
        provider = factory.built(name)
    except ConfigError as exc:
        return Usability(name, False, str(exc), kind="config")
    assert settings is not None  # built() refuses a name the config does not have
    spent = _budget(tracker, task_id, fresh) if tracker is not None else None
    free = provider.is_free if spent is not None else None  # a price lookup: when it matters
    key = _key(provider)
    facts: dict[str, Any] = {"enabled": settings.enabled, "free": free, "key": key}
    problems: list[tuple[str, str, datetime | None]] = []  # (kind, reason, until)
    if not settings.enabled:
        problems.append(("disabled", f"{factory.source}: providers.{name}.enabled is false", None))
    problem = factory.unavailable_reason(provider)
    if problem:
        missing_key = bool(key.env) and not provider.api_key()
        problems.append(("key" if missing_key else "unavailable", problem, None))
    if name in gate.disabled:
        problems.append(
            ("auth", f"its key was refused ({gate.disabled[name]}); fix it, then restart", None)
        )
    cooldown = gate.store.cooldown(name)
    if cooldown is not None:
        until = datetime.fromtimestamp(cooldown.until, UTC)
        facts |= {"cooldown": cooldown.reason, "cooldown_until": until}
        problems.append(("cooldown", f"in cooldown until {when(until)}: {cooldown.reason}", until))
    daily, monthly = settings.daily_requests, settings.monthly_requests
    if daily or monthly or settings.rpm:
        today, month = gate.store.requests_used(name)
        facts["requests"] = RequestQuota(today, daily, month, monthly, settings.rpm)
        blocked = gate.store.requests_blocked(name, daily, monthly)
        if blocked is not None:
            until = datetime.fromtimestamp(blocked.until, UTC)
            problems.append(("quota", f"{blocked.reason}; it resets at {when(until)}", until))
    if spent is not None and not free:
        facts["budget_limit"] = spent[0]
        problems.append(("budget", spent[1], spent[2]))
    if reach is not None:
        facts["reach"] = reach
        if not reach.usable:
            problems.append(("unreachable", f"not reachable: {reach.detail}", None))
    if not problems:
        return Usability(name, True, "", **facts)
    kind, reason, until = problems[0]
    if kind != "budget":
        facts.pop("budget_limit", None)
    return Usability(name, False, reason, until, kind, **facts)


def explain_all(
    names: Sequence[str],
    factory: ProviderFactory,
    gate: ProviderGate,
    tracker: CostTracker | None,
    task_id: str | None = None,
    probe_timeout: float | None = None,
) -> dict[str, Usability]:
    """:func:`explain` for each name; with ``probe_timeout``, every provider that is
    configured, enabled and available offline is probed first, all at once."""
    reaches: dict[str, Probe] = {}
    if probe_timeout is not None:
        from coffee_maker.ai_providers.probe import Probe, probe_all

        offline = {n: explain(n, factory, gate, tracker, task_id) for n in names}
        to_probe = [
            factory.built(n)
            for n, found in offline.items()
            if found.kind not in ("config", "disabled", "unavailable", "key")
        ]
        reaches = probe_all(to_probe, probe_timeout)
        for name, found in offline.items():
            if found.kind == "disabled":
                reaches[name] = Probe("skipped", "disabled")
            elif found.kind in ("unavailable", "key"):
                reaches[name] = Probe("skipped", factory.built(name).describe_unavailable())
    return {n: explain(n, factory, gate, tracker, task_id, reaches.get(n)) for n in names}
