"""One budget for the fleet: a long-lived Temporal workflow per budget scope.

Every host of a fleet keeps its own JSONL ledger (the record of its calls), but the limits
of ``cost_controls`` are the fleet's: two hosts must never together spend past them. So
before a paid call, besides its local reservation, a host reserves the same amount in the
workflow ``coffee-maker-budget/<scope>`` (:func:`workflow_id`), which holds what the whole
fleet spent per UTC day, month and task, and the reservations in flight.

- A reservation is a Temporal **Update** (``reserve``) whose **validator** refuses an
  amount that would break a limit: a refused reservation never enters the history. The
  validator and the handler are synchronous, so updates are applied one at a time, each
  seeing the ones before it (the handler checks again all the same); once accepted, a
  reservation is durable.
- ``settle`` takes a batch: each item replaces a reservation with the call's real cost (or
  adds a cost that had no reservation), or releases one. Items are idempotent (their keys
  are remembered), so a batch sent again after a lost answer counts once.
- A reservation holds money until it ``expires`` (its time to live, counted on the
  workflow's clock): a host that died never holds money for ever. The run loop sleeps on a
  timer until the next expiry, and every check ignores expired reservations anyway.
- The history is bounded: past ``max_history`` events (or when the server suggests it) the
  workflow waits for its handlers and continues as new with its state.

Each reservation carries the caller's limits (its ``cost_controls``): hosts of one scope
should share them; a host with lower limits stops earlier, counting everyone's spend.
This module imports only the standard library and ``temporalio``, as workflow code must.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

WORKFLOW_NAME = "CoffeeMakerBudget"
NANOS = 1_000_000_000
#: Settled and released ids remembered, so that a retried settle is not counted twice.
REMEMBERED_IDS = 4096
#: Days of per-day totals kept (the month's total is kept apart).
KEPT_DAYS = 40
#: Tasks untouched for this long are forgotten (their per-task spend with them).
KEPT_TASK_SECONDS = 90 * 86400


def budget_queue(scope: str) -> str:
    """The task queue of a scope's budget workflow: its own, so whichever worker of the
    scope is up serves it, whatever queue that worker takes priorities from."""
    return f"coffee-maker-budget/{scope}"


def workflow_id(scope: str) -> str:
    """The id of the budget workflow of ``scope``: one per scope, on any host."""
    return f"coffee-maker-budget/{scope}"


@dataclass
class Limits:
    """USD limits (``cost_controls``); None is no limit."""

    daily: float | None = None
    monthly: float | None = None
    per_task: float | None = None


@dataclass
class Hold:
    """A live reservation."""

    id: str
    task_id: str | None
    nanos: int
    expires: float  # seconds since the epoch, on the workflow's clock
    host: str = ""


@dataclass
class ReserveRequest:
    id: str
    nanos: int
    ttl: float
    limits: Limits
    task_id: str | None = None
    host: str = ""


@dataclass
class SettleRequest:
    """The real cost of a call, or (``release``) no call at all.

    ``id``: the reservation it ends; ``key``: what makes it idempotent (the reservation's
    id, or a fresh one for a call made without a reservation).
    """

    key: str
    id: str | None
    nanos: int
    task_id: str | None = None
    release: bool = False


@dataclass
class BudgetState:
    """What the workflow carries across continue-as-new."""

    days: dict[str, int] = field(default_factory=dict)
    months: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)
    task_seen: dict[str, float] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)  # settled or released ids, oldest first
    max_history: int = 10_000
    generation: int = 0  # how many times it continued as new


@dataclass
class Snapshot:
    """The fleet's figures (a query): nano-dollars."""

    day: str
    month: str
    spent_today: int
    spent_this_month: int
    reserved: int
    holds: int
    tasks: dict[str, int]
    generation: int


def _keys(now: datetime) -> tuple[str, str, datetime, datetime]:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    return today.date().isoformat(), today.strftime("%Y-%m"), today + timedelta(days=1), next_month


@workflow.defn(name=WORKFLOW_NAME)
class BudgetWorkflow:
    @workflow.init
    def __init__(self, state: BudgetState | None = None) -> None:
        self.state = state or BudgetState()
        self._wake = False

    # -- the run: expiries and continue-as-new ----------------------------------------------
    @workflow.run
    async def run(self, state: BudgetState | None = None) -> None:
        while True:
            self._wake = False
            next_expiry = min((h.expires for h in self.state.holds.values()), default=None)
            timeout = None
            if next_expiry is not None:
                timeout = timedelta(seconds=max(0.0, next_expiry - self._now()) + 0.001)
            with contextlib.suppress(TimeoutError):  # the next reservation expires
                await workflow.wait_condition(
                    lambda: self._wake or self._should_continue(), timeout=timeout
                )
            self._expire()
            if self._should_continue():
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._expire()
                self._prune()
                self.state.generation += 1
                workflow.continue_as_new(self.state)

    def _should_continue(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.state.max_history
        )

    def _now(self) -> float:
        return workflow.now().timestamp()

    def _expire(self) -> None:
        now = self._now()
        for key in [k for k, h in self.state.holds.items() if h.expires <= now]:
            del self.state.holds[key]

    def _prune(self) -> None:
        oldest = (workflow.now() - timedelta(days=KEPT_DAYS)).date().isoformat()
        self.state.days = {k: v for k, v in self.state.days.items() if k >= oldest}
        self.state.months = {k: v for k, v in self.state.months.items() if k >= oldest[:7]}
        cutoff = self._now() - KEPT_TASK_SECONDS
        for task in [t for t, seen in self.state.task_seen.items() if seen < cutoff]:
            self.state.task_seen.pop(task, None)
            self.state.tasks.pop(task, None)

    # -- the check ----------------------------------------------------------------------------
    def _live(self) -> list[Hold]:
        now = self._now()
        return [h for h in self.state.holds.values() if h.expires > now]

    def _problem(self, request: ReserveRequest) -> dict | None:
        """The first limit ``request`` would break (per task, daily, monthly), or None."""
        day, month, tomorrow, next_month = _keys(workflow.now())
        live = self._live()
        reserved = sum(h.nanos for h in live)
        checks = [
            ("daily", request.limits.daily, self.state.days.get(day, 0), reserved, tomorrow),
            ("monthly", request.limits.monthly, self.state.months.get(month, 0), reserved,
             next_month),
        ]  # fmt: skip
        if request.task_id:
            held = sum(h.nanos for h in live if h.task_id == request.task_id)
            spent = self.state.tasks.get(request.task_id, 0)
            checks.insert(0, ("per_task", request.limits.per_task, spent, held, None))
        for name, limit, spent, held, resets in checks:
            if limit is not None and spent + held + request.nanos > round(limit * NANOS):
                return {
                    "limit": name,
                    "limit_value": limit,
                    "spent": spent,
                    "reserved": held,
                    "amount": request.nanos,
                    "resets_at": resets.timestamp() if resets else None,
                }
        return None

    def _refuse(self, request: ReserveRequest) -> None:
        if request.nanos < 0 or request.ttl <= 0:
            raise ApplicationError("bad reservation", type="BadReservation", non_retryable=True)
        if request.id in self.state.holds or request.id in self.state.done:
            return  # a retry of one already taken: accepted again, changes nothing
        problem = self._problem(request)
        if problem is not None:
            raise ApplicationError(
                f"{problem['limit']} limit", problem, type="BudgetExceeded", non_retryable=True
            )

    # -- updates and the query ------------------------------------------------------------------
    @workflow.update
    def reserve(self, request: ReserveRequest) -> float:
        """Hold ``request.nanos`` until settled, released or expired; returns the expiry."""
        self._refuse(request)  # again: the validator's answer, applied in order
        if request.id in self.state.done:
            return 0.0
        if request.id not in self.state.holds:
            expires = self._now() + request.ttl
            self.state.holds[request.id] = Hold(
                request.id, request.task_id, request.nanos, expires, request.host
            )
            soonest = min(h.expires for h in self.state.holds.values())
            self._wake = self._wake or expires <= soonest
        return self.state.holds[request.id].expires

    @reserve.validator
    def _validate_reserve(self, request: ReserveRequest) -> None:
        self._refuse(request)

    @workflow.update
    def settle(self, requests: list[SettleRequest]) -> None:
        """Settlements and releases, in order; one sent twice counts once.

        A settlement's real cost replaces its reservation (which may have expired
        meanwhile: the cost counts all the same); a release frees it.
        """
        day, month, _, _ = _keys(workflow.now())
        for request in requests:
            if request.key in self.state.done or request.nanos < 0:
                continue
            self._remember(request.key)
            hold = self.state.holds.pop(request.id, None) if request.id else None
            if request.release:
                continue
            task_id = hold.task_id if hold else request.task_id
            self.state.days[day] = self.state.days.get(day, 0) + request.nanos
            self.state.months[month] = self.state.months.get(month, 0) + request.nanos
            if task_id:
                self.state.tasks[task_id] = self.state.tasks.get(task_id, 0) + request.nanos
                self.state.task_seen[task_id] = self._now()

    def _remember(self, reservation_id: str) -> None:
        self.state.done.append(reservation_id)
        del self.state.done[:-REMEMBERED_IDS]

    @workflow.query
    def snapshot(self) -> Snapshot:
        day, month, _, _ = _keys(workflow.now())
        live = self._live()
        return Snapshot(
            day=day,
            month=month,
            spent_today=self.state.days.get(day, 0),
            spent_this_month=self.state.months.get(month, 0),
            reserved=sum(h.nanos for h in live),
            holds=len(live),
            tasks=dict(self.state.tasks),
            generation=self.state.generation,
        )
