"""What a provider may still do: cooldowns, request quotas, rpm, budget, circuit breaker.

Cooldowns and request counts are written to ``<state>/provider_state.json`` under a lock,
atomically (temp file + rename), because they must outlive the process: a daemon restarted
after an ``insufficient_quota`` must still skip that provider until it resets, and a plan
that allows 500 requests a day allows 500, not 500 per restart. Request quotas count per
UTC day and calendar month (UTC), like the ledger. The rpm limiter is per process.
:class:`ProviderGate` puts these together with the budget for the fallback strategy.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.atomic_files import atomic_write, locked
from coffee_maker.ai_providers.base import BaseAIProvider, ProviderResult, make_usage
from coffee_maker.ai_providers.cost_tracker import BudgetExceeded, CostTracker
from coffee_maker.ai_providers.errors import (
    Action,
    BudgetExceededError,
    ProviderError,
    QuotaExhaustedError,
)
from coffee_maker.ai_providers.ledger import Reservation, day_key, month_key, utc
from coffee_maker.paths import user_state_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cooldown:
    """A provider skipped until ``until`` (epoch seconds) because of ``reason``."""

    until: float
    reason: str


class ProviderStateStore:
    """Cooldowns and request counters shared by every process using the state directory."""

    def __init__(
        self,
        home: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        directory = Path(home) if home is not None else user_state_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "provider_state.json"
        self._lock_path = directory / "provider_state.lock"
        self.clock = clock
        self._cache: dict[str, Any] = {}
        self._cache_key: tuple[int, int, int] | None = None

    # -- file ----------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        """The file's content; re-read only when it changed (one ``stat`` otherwise)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._cache, self._cache_key = {}, None
            return {}
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._cache_key:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning(
                    "%s: unreadable (%s); starting from empty provider state", self.path, exc
                )
                data = {}
            self._cache, self._cache_key = (data if isinstance(data, dict) else {}), key
        return self._cache

    def _update(self, change: Callable[[dict[str, Any]], Any]) -> Any:
        """Apply ``change`` to a fresh copy under the lock and write it atomically."""
        with locked(self._lock_path):
            self._cache_key = None
            data = json.loads(json.dumps(self._load()))
            result = change(data)
            atomic_write(self.path, json.dumps(data, indent=1, sort_keys=True).encode("utf-8"))
        return result

    # -- cooldowns -------------------------------------------------------------------------
    def cooldown(self, provider: str) -> Cooldown | None:
        """The provider's cooldown if it is still running."""
        entry = self._load().get("cooldowns", {}).get(provider)
        if not entry or float(entry.get("until", 0)) <= self.clock():
            return None
        return Cooldown(float(entry["until"]), str(entry.get("reason", "")))

    def set_cooldown(self, provider: str, until: float, reason: str) -> None:
        """Skip ``provider`` until ``until``; an existing later cooldown is kept."""

        def change(data: dict[str, Any]) -> None:
            cooldowns = data.setdefault("cooldowns", {})
            current = cooldowns.get(provider) or {}
            if float(current.get("until", 0)) < until:
                cooldowns[provider] = {"until": until, "reason": reason}

        self._update(change)

    # -- request quotas --------------------------------------------------------------------
    def take_request(
        self, provider: str, daily: int | None, monthly: int | None
    ) -> Cooldown | None:
        """Count one request, or return until when the daily/monthly request quota is used up.

        Nothing is written for a provider without request quotas.
        """
        if not daily and not monthly:
            return None
        now = self.clock()
        day, month = day_key(now), month_key(now)

        def change(data: dict[str, Any]) -> Cooldown | None:
            counts = data.setdefault("requests", {}).setdefault(provider, {})
            blocked = _used_up(counts, daily, monthly, now)
            if blocked is None:
                used_today, used_month = _used(counts, now)
                counts.update(day=day, daily=used_today + 1, month=month, monthly=used_month + 1)
            return blocked

        return self._update(change)

    def requests_blocked(
        self, provider: str, daily: int | None, monthly: int | None
    ) -> Cooldown | None:
        """What :meth:`take_request` would refuse now (until when, why), counting nothing."""
        if not daily and not monthly:
            return None
        counts = self._load().get("requests", {}).get(provider, {})
        return _used_up(counts, daily, monthly, self.clock())

    def requests_used(self, provider: str) -> tuple[int, int]:
        """(requests today, requests this month) counted for ``provider``."""
        return _used(self._load().get("requests", {}).get(provider, {}), self.clock())


def _used(counts: dict[str, Any], now: float) -> tuple[int, int]:
    """(requests today, this month) from a provider's counters, zero for a past period."""
    today = counts.get("daily", 0) if counts.get("day") == day_key(now) else 0
    month = counts.get("monthly", 0) if counts.get("month") == month_key(now) else 0
    return today, month


def _used_up(
    counts: dict[str, Any], daily: int | None, monthly: int | None, now: float
) -> Cooldown | None:
    """Until when (the next UTC day or month) a used-up request quota holds, and why."""
    used_today, used_month = _used(counts, now)
    midnight = utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if daily and used_today >= daily:
        until = (midnight + timedelta(days=1)).timestamp()
        return Cooldown(until, f"daily request quota of {daily} used up (UTC day {day_key(now)})")
    if monthly and used_month >= monthly:
        start = (midnight.replace(day=1) + timedelta(days=32)).replace(day=1)
        return Cooldown(start.timestamp(), f"monthly request quota of {monthly} used up")
    return None


class RateLimiter:
    """At most ``rpm`` calls per provider in any 60 seconds: waits for a free slot."""

    WINDOW = 60.0

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.clock = clock
        self.sleep = sleep
        self._calls: dict[str, deque[float]] = {}

    def acquire(self, provider: str, rpm: int | None) -> float:
        """Take a slot for one call, sleeping first if the window is full; seconds waited."""
        if not rpm:
            return 0.0
        calls = self._calls.setdefault(provider, deque())
        now = self.clock()
        while calls and calls[0] <= now - self.WINDOW:
            calls.popleft()
        if len(calls) < rpm:
            calls.append(now)
            return 0.0
        pause = calls[0] + self.WINDOW - now
        self.sleep(pause)
        calls.popleft()
        calls.append(max(self.clock(), now + pause))
        return pause


#: ``emit(kind, provider, model, error_kind=None, wait=None, message="")``: report an event.
Emit = Callable[..., None]

#: Providers disabled after an authentication error, per state directory, for the life of
#: the process: a daemon builds a strategy per task, and a rejected key stays rejected
#: until the process restarts (which is also when a corrected key is read).
_DISABLED_IN_PROCESS: dict[Path, dict[str, str]] = {}


class ProviderGate:
    """Decides, per provider, whether a call may be made, and learns from how it went.

    It holds what is known about each provider in this process (disabled after an auth
    error, transient failures in a row for the circuit breaker), and reaches the shared
    state: the ledger's budget reservations, persisted cooldowns and request quotas, the
    rpm limiter. A strategy and its restricted views share one gate.
    """

    def __init__(
        self,
        tracker: CostTracker | None,
        store: ProviderStateStore,
        limiter: RateLimiter,
        *,
        emit: Emit,
        clock: Callable[[], float],
        cooldown_failures: int,
        cooldown_seconds: float,
        max_retry_delay: float,
    ) -> None:
        self.tracker, self.store, self.limiter = tracker, store, limiter
        self.emit, self.clock = emit, clock
        self.cooldown_failures = cooldown_failures
        self.cooldown_seconds = cooldown_seconds
        self.max_retry_delay = max_retry_delay
        self.disabled = _DISABLED_IN_PROCESS.setdefault(store.path.resolve(), {})
        self.failures: dict[str, int] = {}

    # -- before any call -------------------------------------------------------------------
    def is_cooling(self, name: str) -> bool:
        return self.store.cooldown(name) is not None

    def admit(
        self, provider: BaseAIProvider, amount: float, task_id: str | None, ttl: float
    ) -> Reservation | None:
        """Reserve ``amount`` and count the request, then wait for an rpm slot.

        Raises :class:`BudgetExceeded` or :class:`QuotaExhaustedError` (request quota) and
        then nothing is spent or counted.
        """
        name, settings = provider.name, provider.settings
        reservation = None
        if self.tracker is not None:
            try:
                reservation = self.tracker.reserve(name, provider.model, amount, task_id, ttl=ttl)
            except BudgetExceededError as err:  # a limit, or a shared budget unreachable
                self.emit("skip", name, provider.model, err.kind, message=str(err))
                raise
        blocked = self.store.take_request(name, settings.daily_requests, settings.monthly_requests)
        if blocked is not None:
            self.release(reservation)
            raise QuotaExhaustedError(
                blocked.reason,
                provider=name,
                model=provider.model,
                reset_at=datetime.fromtimestamp(blocked.until, UTC),
            )
        waited = self.limiter.acquire(name, settings.rpm)
        if waited:
            self.emit("wait", name, provider.model, None, waited, "requests-per-minute limit")
        return reservation

    def release(self, reservation: Reservation | None) -> None:
        """No call was made after all: give the money back."""
        if reservation is not None and self.tracker is not None:
            self.tracker.release(reservation)

    # -- after a call ----------------------------------------------------------------------
    def succeeded(
        self, provider: BaseAIProvider, result: ProviderResult, reservation: Reservation | None
    ) -> None:
        if self.tracker is not None and reservation is not None:
            outcome = "ok" if result.success else "incomplete"
            self.tracker.settle(reservation, result.cost, result.usage, outcome)
        self.failures[provider.name] = 0
        self.emit("success", provider.name, result.model, message=f"cost ${result.cost:.6f}")

    def failed(
        self, provider: BaseAIProvider, err: ProviderError, reservation: Reservation | None
    ) -> None:
        """Ledger and event for a call that raised; a too-long Retry-After cools it down."""
        name = provider.name
        if self.tracker is not None and reservation is not None:
            self.tracker.settle(reservation, 0.0, make_usage(), err.kind.value)
        self.emit("failure", name, provider.model, err.kind, message=str(err))
        if err.retryable and err.retry_after and err.retry_after > self.max_retry_delay:
            self.cool(provider, err, self.clock() + err.retry_after, f"Retry-After {err}")

    def gave_up(self, provider: BaseAIProvider, err: ProviderError) -> None:
        """The circuit breaker: count a call the provider could not answer (after its
        retries and models) because of transient errors; enough in a row cool it down."""
        name = provider.name
        if not err.retryable or self.is_cooling(name):
            return
        self.failures[name] = self.failures.get(name, 0) + 1
        if self.failures[name] >= self.cooldown_failures:
            self.failures[name] = 0
            reason = f"{self.cooldown_failures} failed calls in a row, last: {err.describe()}"
            self.cool(provider, err, self.clock() + self.cooldown_seconds, reason)

    def cool(self, provider: BaseAIProvider, err: ProviderError, until: float, why: str) -> None:
        self.store.set_cooldown(provider.name, until, why)
        self.emit("cooldown", provider.name, provider.model, err.kind, until - self.clock(), why)

    def after_failure(
        self, provider: BaseAIProvider, err: ProviderError
    ) -> tuple[float | None, bool]:
        """Apply the error's action (``errors.ACTIONS``) once retries are over.

        Returns when the provider may work again (if known) and whether its next model is
        worth trying.
        """
        if isinstance(err, BudgetExceeded):  # not a vendor error: a cheaper model may fit
            return (err.resets_at.timestamp() if err.resets_at else None), True
        if err.action is Action.COOLDOWN:
            self.cool(provider, err, self._reset_time(err), err.describe())
        elif err.action is Action.DISABLE:
            self.disabled[provider.name] = err.describe()
            self.emit("disable", provider.name, provider.model, err.kind, message=str(err))
        cooldown = self.store.cooldown(provider.name)
        if cooldown is not None:
            return cooldown.until, False
        return None, err.action in (Action.RETRY, Action.NEXT_MODEL)

    def _reset_time(self, err: ProviderError) -> float:
        if err.reset_at is not None:
            return err.reset_at.timestamp()
        if err.retry_after:
            return self.clock() + err.retry_after
        return self.clock() + self.cooldown_seconds
