"""The budget: the limits of ``cost_controls`` held against what the ledger says was spent.

:class:`Budget` answers, from a :class:`~coffee_maker.ai_providers.ledger.Totals`, the
three questions a call asks before it is made: what live reservations hold, which limit
(per task, daily, monthly) one more amount would break, and whether spend has crossed
``warn_threshold`` of a limit (said once per UTC day or month). It reads and writes no
file: :class:`~coffee_maker.ai_providers.cost_tracker.CostTracker` keeps the totals up
to date and holds the ledger's lock while it asks.

:class:`RemoteBudget` is what a tracker also asks when its host is one of several sharing
the limits (a fleet, ``orchestrator: temporal``): this layer only knows the interface; the
fleet layer provides the implementation and hands it to the tracker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from coffee_maker.ai_providers.errors import BudgetExceededError
from coffee_maker.ai_providers.ledger import (
    Reservation,
    Totals,
    day_key,
    month_key,
    to_nanos,
    usd,
    utc,
)
from coffee_maker.ai_providers.provider_config import CostControls

log = logging.getLogger(__name__)


def money(amount: float) -> str:
    """USD for people: cents, or four decimals for amounts that are not whole cents < $1."""
    whole_cents = abs(amount * 100 - round(amount * 100)) < 1e-6
    return f"${amount:,.2f}" if amount >= 1 or whole_cents else f"${amount:.4f}"


class BudgetExceeded(BudgetExceededError):
    """A call that would break ``limit`` (``per_task``, ``daily`` or ``monthly``).

    Carries the figures so the user sees what was spent, what is held by calls in flight
    and what this call needed; ``resets_at`` is when a daily/monthly limit frees up again.
    """

    def __init__(
        self,
        limit: str,
        limit_value: float,
        spent: float,
        reserved: float,
        amount: float,
        *,
        provider: str | None = None,
        model: str | None = None,
        resets_at: datetime | None = None,
        scope: str | None = None,
    ) -> None:
        self.limit = limit
        self.limit_value = limit_value
        self.spent = spent
        self.reserved = reserved
        self.amount = amount
        self.resets_at = resets_at
        self.scope = scope
        fleet = f" across the fleet (budget scope {scope})" if scope else ""
        message = (
            f"cost_controls.{limit}_limit {money(limit_value)} would be exceeded{fleet}: spent "
            f"{money(spent)} + reserved {money(reserved)} + this call up to {money(amount)}"
        )
        super().__init__(message, provider=provider, model=model, reset_at=resets_at)


class BudgetUnavailable(BudgetExceededError):
    """The shared budget could not be asked: no paid call is made until it answers."""


class RemoteBudget(Protocol):
    """A budget other hosts share, asked after this host's ledger (see ``CostTracker``).

    ``reserve`` raises :class:`BudgetExceeded` (a shared limit) or :class:`BudgetUnavailable`
    (it cannot be reached: fail closed). ``settle`` (``reservation_id`` None: a call made
    without one) and ``release`` must not raise for want of the remote side: the call is
    over, the ledger has it; the implementation keeps them until they get through.
    """

    def reserve(self, reservation: Reservation) -> None: ...

    def settle(self, reservation_id: str | None, task_id: str | None, cost: float) -> None: ...

    def release(self, reservation_id: str) -> None: ...


_process_remote: list[RemoteBudget | None] = [None]


def use_remote_budget(remote: RemoteBudget | None) -> None:
    """Make ``remote`` the shared budget of every tracker made from now on in this process
    that is given none (a fleet worker does so once, at start); None: no shared budget."""
    _process_remote[0] = remote


def process_remote_budget() -> RemoteBudget | None:
    return _process_remote[0]


class Budget:
    """The limits of ``controls`` checked against running totals, at ``clock``'s time."""

    def __init__(self, controls: CostControls, clock: Callable[[], float]) -> None:
        self.controls = controls
        self.clock = clock
        #: Threshold warnings raised so far: {"period", "key", "spent", "limit"}.
        self.warnings: list[dict[str, Any]] = []
        self._warned: set[tuple[str, str]] = set()
        self._calendar: tuple[float, str, str, datetime, datetime] = (-1.0, "", "", utc(0), utc(0))

    def reserved(self, totals: Totals, now: float, task_id: str | None = None) -> int:
        """Nano-dollars held by live reservations; dead ones (expired, crashed) are dropped."""
        held = totals.reservations
        for stale in [key for key, r in held.items() if not r.is_live(now)]:
            del held[stale]
        return sum(r.nanos for r in held.values() if task_id is None or r.task_id == task_id)

    def periods(
        self, totals: Totals, now: float
    ) -> list[tuple[str, str, float | None, int, datetime]]:
        """(name, UTC day/month, limit, spent, when it resets) for the daily and monthly limits."""
        if self._calendar[0] != now // 86400:  # the keys change once a UTC day: every call asks
            today = utc(now).replace(hour=0, minute=0, second=0, microsecond=0)
            next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
            self._calendar = (now // 86400, day_key(now), month_key(now), today, next_month)
        _, day, month, today, next_month = self._calendar
        return [
            ("daily", day, self.controls.daily_limit, totals.days.get(day, 0),
             today + timedelta(days=1)),
            ("monthly", month, self.controls.monthly_limit, totals.months.get(month, 0),
             next_month),
        ]  # fmt: skip

    def problem(
        self, totals: Totals, nanos: int, task_id: str | None, now: float
    ) -> BudgetExceeded | None:
        """The first limit ``nanos`` more would break, counting live reservations, or None."""
        if nanos <= 0:
            return None
        reserved = self.reserved(totals, now)
        checks = [(name, limit, spent, reserved, resets) for name, _, limit, spent, resets
                  in self.periods(totals, now)]  # fmt: skip
        if task_id:
            held = self.reserved(totals, now, task_id)
            task = ("per_task", self.controls.per_task_limit, totals.tasks.get(task_id, 0), held)
            checks.insert(0, (*task, None))
        for name, limit, spent, held, resets in checks:
            if limit is not None and spent + held + nanos > to_nanos(limit):
                return BudgetExceeded(
                    name, limit, usd(spent), usd(held), usd(nanos), resets_at=resets
                )
        return None

    def check_thresholds(self, totals: Totals) -> None:
        """Warn once per UTC day / month when spend crosses ``warn_threshold`` of a limit."""
        threshold = self.controls.warn_threshold
        for period, key, limit, spent, _ in self.periods(totals, self.clock()):
            if not limit or (period, key) in self._warned or spent < to_nanos(limit * threshold):
                continue
            self._warned.add((period, key))
            event = {"period": period, "key": key, "spent": usd(spent), "limit": limit}
            self.warnings.append(event)
            log.warning(
                "cost warning: %s spend $%.2f (%s) has reached %d%% of the %s limit $%.2f",
                period, usd(spent), key, round(threshold * 100), period, limit,
                extra={"cost_warning": event},
            )  # fmt: skip
