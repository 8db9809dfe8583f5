"""The cost ledger and the budget: every call recorded, no call made that the budget cannot pay.

The ledger is ``<state>/ledger.jsonl`` (``$COFFEE_MAKER_HOME``), shared by every process and
repository, because budgets belong to the keys. It is append-only JSON lines, one object per
line, of three kinds:

- ``call``: one model call (``ts``, ``provider``, ``model``, ``task_id``, the four token
  counts, ``cost`` in USD, ``outcome`` = ``ok`` or the error kind, and ``reservation`` when it
  settles one);
- ``reserve``: money set aside before a call (``id``, ``amount``, ``expires``, ``pid``, ``host``);
- ``release``: a reservation given back without a call.

Reservations live in the ledger so that two daemons sharing one budget see each other's:
a reservation counts against the limits until a ``call`` naming it or a ``release`` arrives,
until it ``expires``, or until its process (on this host) is gone. Every append happens under
an exclusive ``flock`` on ``ledger.lock``, so concurrent writers never interleave, and
``call`` records are fsync'd. Each tracker keeps running totals and the byte offset it has
read up to; a call reads only the bytes appended since (by any process), and a record the
tracker wrote itself is applied without reading it back, so recording and asking for
today's total cost O(new records), not O(ledger). Opening is O(records since the last
checkpoint): ``ledger.checkpoint.json`` holds the totals up to an offset (see
:mod:`~coffee_maker.ai_providers.ledger_checkpoint`; deleting it is safe), and the file is
only ever read in bounded chunks, never whole. A torn last line left by a
crash is skipped with one warning; the next append starts on a fresh line. So is any line
that is not a well-formed record (a negative, non-finite or absurd cost or token count, a
wrong type, an unknown kind): it is never applied, so a poisoned line cannot lift or break
a budget (the caps are in :mod:`~coffee_maker.ai_providers.ledger_records`).

The limits themselves (what a reservation may take, the threshold warnings) are
:mod:`~coffee_maker.ai_providers.budget`'s, asked under the ledger's lock with the totals
this tracker keeps. Money is summed in integer nano-dollars, so totals are exact. Days
and months are **UTC** (a day runs 00:00-24:00 UTC), for the ledger, the limits and the
reports alike.
"""

from __future__ import annotations

import csv
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers import ledger_checkpoint
from coffee_maker.ai_providers.base import USAGE_KEYS
from coffee_maker.ai_providers.budget import (  # noqa: F401  (imported from here too)
    Budget,
    BudgetExceeded,
    RemoteBudget,
    money,
    process_remote_budget,
)
from coffee_maker.ai_providers.ledger import (
    LedgerFile,
    Reservation,
    Totals,
    UsageStats,
    day_key,
    month_key,
    timestamp,
    to_nanos,
    usd,
    utc,
)
from coffee_maker.ai_providers.ledger_records import bounded_cost, bounded_tokens, record_problem
from coffee_maker.ai_providers.provider_config import CostControls
from coffee_maker.paths import user_state_dir

#: What :meth:`CostTracker.stats` can group by.
STATS_BY = ("provider", "model", "day", "task")

log = logging.getLogger(__name__)

DEFAULT_RESERVATION_TTL = 3600.0
#: Ledger bytes (about 4,000 records) read or written past the checkpoint before a tracker
#: writes a new one: opening never parses more than this, and checkpoints stay rare.
CHECKPOINT_EVERY = 1 << 20


class CostTracker:
    """Records what calls cost and refuses calls the budget cannot pay for.

    ``cost_controls`` are the limits (``None``: the documented defaults, $50 a day and $5 a
    task). ``home`` is the state directory (default :func:`user_state_dir`). Safe to share
    between threads; several processes may use the same ledger at once. A long-lived
    process should keep one tracker (the daemon does): it then reads only what other
    processes appended. ``checkpoint_every``: ledger bytes past the checkpoint before a
    new one is written. ``remote_budget``: limits shared with other hosts (a fleet; default:
    :func:`~.budget.use_remote_budget`'s): reservations, settlements, releases go there too.
    """

    def __init__(
        self,
        cost_controls: CostControls | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
        checkpoint_every: int = CHECKPOINT_EVERY,
        remote_budget: RemoteBudget | None = None,
    ) -> None:
        self.remote_budget = remote_budget or process_remote_budget()
        self._budget = Budget(cost_controls or CostControls(), clock)
        self.controls = self._budget.controls
        directory = Path(home) if home is not None else user_state_dir()
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "ledger.jsonl"
        self.clock = clock
        #: Threshold warnings raised by this tracker: {"period", "key", "spent", "limit", ...}.
        self.warnings = self._budget.warnings
        self._totals = Totals()
        self._file = LedgerFile(self.path, directory / "ledger.lock")
        self._checkpoints = ledger_checkpoint.Checkpointer(self.path, checkpoint_every)
        self._mutex = threading.RLock()
        self.refresh()

    # -- reading and writing the ledger ---------------------------------------------------
    @property
    def bytes_read(self) -> int:
        """Ledger bytes this tracker has read: O(what others appended), never its own."""
        return self._file.bytes_read

    def refresh(self) -> None:
        """Read what other processes appended since the last call (every method does this)."""
        with self._locked(exclusive=False):
            pass

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        """Hold the ledger lock and bring the totals up to date with the file."""
        with self._mutex:
            with self._file.locked(exclusive=exclusive):
                starting = self._file.reset_if_replaced() or not self._checkpoints.started
                if starting:
                    self._totals = self._checkpoints.start(self._file)
                self._ingest()
                if starting:
                    self._budget.check_thresholds(self._totals)
                yield
            self._checkpoints.maybe_save(self._file, self._totals, self.clock)

    def _ingest(self) -> None:
        """Apply the records appended since the last read (by any process)."""
        calls = 0
        for rec in self._file.read_new():
            try:
                calls += self._totals.apply(rec)
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                log.warning("ledger %s: skipping an invalid record (%s)", self.path, exc)
        if calls:
            self._budget.check_thresholds(self._totals)

    def _append(self, record: dict[str, Any]) -> None:
        """Write a record (the exclusive lock is held), then read it back in.

        Calls are fsync'd. Reservations and releases are not: they only matter while
        their process lives, and other processes see them without it. A record this
        tracker wrote right after everything it had read is applied as is; anything
        else is read back like another process's lines.
        """
        valid = record_problem(record) is None  # as others will judge it (built bounded)
        own = self._file.append([record], durable=record["kind"] == "call", adopt=valid)
        if not own:
            self._ingest()
        elif self._totals.apply(record):
            self._budget.check_thresholds(self._totals)

    def _call_record(
        self,
        provider: str,
        cost: float,
        usage: Mapping[str, Any] | None,
        model: str | None,
        task_id: str | None,
        outcome: str,
        reservation: str | None = None,
    ) -> dict[str, Any]:
        usage = usage or {}
        record: dict[str, Any] = {
            "kind": "call",
            "ts": timestamp(self.clock()),
            "provider": provider,
            "model": model,
            "task_id": task_id,
            **{k: bounded_tokens(usage.get(k)) for k in USAGE_KEYS},
            "cost": usd(to_nanos(bounded_cost(cost))),
            "outcome": outcome,
        }
        if reservation:
            record["reservation"] = reservation
        return record

    # -- recording ------------------------------------------------------------------------
    def track_cost(
        self,
        provider: str,
        cost: float,
        usage_dict: Mapping[str, Any] | None = None,
        *,
        model: str | None = None,
        task_id: str | None = None,
        outcome: str = "ok",
    ) -> None:
        """Record one call that was made without a reservation."""
        record = self._call_record(provider, cost, usage_dict, model, task_id, outcome)
        with self._locked(exclusive=True):
            self._append(record)
        if self.remote_budget is not None and record["cost"]:
            self.remote_budget.settle(None, task_id, record["cost"])

    def reserve(
        self,
        provider: str,
        model: str | None,
        amount: float,
        task_id: str | None = None,
        *,
        ttl: float = DEFAULT_RESERVATION_TTL,
    ) -> Reservation:
        """Set ``amount`` aside against every limit, or raise :class:`BudgetExceeded`.

        A zero amount (a free provider) always fits and writes nothing. The check and the
        reservation happen under one exclusive lock, so two processes cannot both take
        the last dollar. Then the remote budget (if any) must take it too, or this one is
        released and its error raised: an unreachable one refuses (fails closed).
        """
        now = self.clock()
        reservation = Reservation(
            id=uuid.uuid4().hex,
            provider=provider,
            model=model,
            task_id=task_id,
            nanos=to_nanos(bounded_cost(amount, "reservation")),
            expires=now + ttl,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        if reservation.nanos == 0:
            return reservation
        with self._locked(exclusive=True):
            problem = self._budget.problem(self._totals, reservation.nanos, task_id, now)
            if problem is not None:
                problem.provider, problem.model = provider, model
                raise problem
            self._append(reservation.to_record(now))
        if self.remote_budget is not None:
            try:
                self.remote_budget.reserve(reservation)
            except BaseException:
                self.release(reservation, remote=False)
                raise
        return reservation

    def settle(
        self,
        reservation: Reservation,
        actual_cost: float,
        usage: Mapping[str, Any] | None = None,
        outcome: str = "ok",
    ) -> None:
        """Record the call a reservation was for; its real cost replaces the reservation."""
        record = self._call_record(
            reservation.provider,
            actual_cost,
            usage,
            reservation.model,
            reservation.task_id,
            outcome,
            reservation.id if reservation.nanos else None,
        )
        with self._locked(exclusive=True):
            self._append(record)
        if self.remote_budget is not None and (reservation.nanos or record["cost"]):
            held = reservation.id if reservation.nanos else None
            self.remote_budget.settle(held, reservation.task_id, record["cost"])

    def release(self, reservation: Reservation, *, remote: bool = True) -> None:
        """Give a reservation back when no call was made."""
        if not reservation.nanos:
            return
        record = {"kind": "release", "ts": timestamp(self.clock()), "id": reservation.id}
        with self._locked(exclusive=True):
            self._append(record)
        if remote and self.remote_budget is not None:
            self.remote_budget.release(reservation.id)

    def exhausted(self, task_id: str | None = None, *, fresh: bool = True) -> BudgetExceeded | None:
        """The first limit with nothing left (spent and reserved reach it), or None: then
        no paid call of any size fits, and only free providers may run.

        ``fresh=False`` answers from what this tracker last read, without the lock: for a
        caller about to :meth:`reserve`, which reads the rest and has the last word."""
        limits = self.controls
        no_task_limit = task_id is None or limits.per_task_limit is None
        if limits.daily_limit is None and limits.monthly_limit is None and no_task_limit:
            return None
        if not fresh:
            with self._mutex:
                return self._budget.problem(self._totals, 1, task_id, self.clock())
        with self._locked(exclusive=False):
            return self._budget.problem(self._totals, 1, task_id, self.clock())

    def check_cost_limit(self, provider: str, estimated_cost: float) -> bool:
        """False if a call costing ``estimated_cost`` would break a daily or monthly limit."""
        nanos = to_nanos(estimated_cost)
        with self._locked(exclusive=False):
            return self._budget.problem(self._totals, nanos, None, self.clock()) is None

    # -- totals and stats -------------------------------------------------------------------
    def get_daily_cost(self, day: date | None = None) -> float:
        """USD spent on ``day`` (default: today, UTC)."""
        with self._locked(exclusive=False):
            key = day.isoformat() if day else day_key(self.clock())
            return usd(self._totals.days.get(key, 0))

    def get_monthly_cost(self) -> float:
        """USD spent this calendar month (UTC)."""
        with self._locked(exclusive=False):
            return usd(self._totals.months.get(month_key(self.clock()), 0))

    def get_task_cost(self, task_id: str) -> float:
        with self._locked(exclusive=False):
            return usd(self._totals.tasks.get(task_id, 0))

    def task_costs(self) -> dict[str, float]:
        """USD per task id, all time, from the running totals (no ledger read)."""
        with self._locked(exclusive=False):
            return {task: usd(nanos) for task, nanos in self._totals.tasks.items()}

    def get_reserved(self) -> float:
        """USD held by calls in flight (any process)."""
        with self._locked(exclusive=False):
            return usd(self._budget.reserved(self._totals, self.clock()))

    def stats(
        self, since: date | None = None, until: date | None = None, by: str = "provider"
    ) -> dict[str, UsageStats]:
        """Stats per ``provider``, ``model`` (``provider/model``), ``day`` (UTC) or ``task``
        (the task id the caller gave, ``(none)`` without one), dates inclusive.

        ``task`` reads the calls in the range from the ledger (the running totals keep no
        per-task token counts); the others come from the totals at once.
        """
        if by not in STATS_BY:
            raise ValueError(f"by must be one of {', '.join(STATS_BY)}, not {by!r}")
        low, high = (since.isoformat() if since else ""), (until.isoformat() if until else "~")
        result: dict[str, UsageStats] = {}
        if by == "task":
            for rec in self._calls(low, high):
                result.setdefault(str(rec.get("task_id") or "(none)"), UsageStats()).add_call(rec)
            return dict(sorted(result.items()))
        with self._locked(exclusive=False):
            for (day, provider, model), stat in self._totals.stats.items():
                if low <= day <= high:
                    keys = {"provider": provider, "model": f"{provider}/{model}", "day": day}
                    result.setdefault(keys[by], UsageStats()).add(stat)
        return dict(sorted(result.items()))

    def get_provider_stats(self) -> dict[str, dict[str, Any]]:
        """All-time stats per provider, as plain dicts.

        Besides the richer keys of ``UsageStats.to_dict`` each carries the names the
        Python API has always promised (README, "Python API"): ``total_cost``,
        ``total_requests``, ``avg_cost``, ``total_tokens_in`` and ``total_tokens_out``.
        """
        result: dict[str, dict[str, Any]] = {}
        for name, stat in self.stats().items():
            data = stat.to_dict()
            data.update(
                total_cost=data["cost"],
                total_requests=data["requests"],
                avg_cost=data["average_cost"],
                total_tokens_in=data["input_tokens"],
                total_tokens_out=data["output_tokens"],
            )
            result[name] = data
        return result

    def daily_totals(self, days: int = 7) -> list[tuple[date, float]]:
        """USD per UTC day for the last ``days`` days, oldest first, today last."""
        with self._locked(exclusive=False):
            today = utc(self.clock()).date()
            span = [today - timedelta(days=n) for n in range(days - 1, -1, -1)]
            return [(d, usd(self._totals.days.get(d.isoformat(), 0))) for d in span]

    def export_csv(
        self, path: str | os.PathLike[str], since: date | None = None, until: date | None = None
    ) -> int:
        """Write the calls between ``since`` and ``until`` (UTC dates, inclusive) as CSV."""
        low, high = (since.isoformat() if since else ""), (until.isoformat() if until else "~")
        columns = ["ts", "provider", "model", "task_id", *USAGE_KEYS, "cost", "outcome"]
        rows = 0
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, columns, extrasaction="ignore")
            writer.writeheader()
            for rec in self._calls(low, high):
                writer.writerow({**rec, "cost": f"{usd(to_nanos(rec.get('cost'))):.9f}"})
                rows += 1
        return rows

    def _calls(self, low: str, high: str) -> Iterator[dict[str, Any]]:
        """The call records of UTC days ``low`` to ``high`` (ISO dates, inclusive)."""
        with self._locked(exclusive=False):  # the bytes up to here never change: read them
            fd, stop = os.dup(self._file.fd), self._file.offset  # after letting writers go
        with os.fdopen(fd, "rb") as ledger:
            for rec in self._file.read_all(ledger.fileno(), stop):
                if rec.get("kind", "call") == "call" and low <= str(rec.get("ts", ""))[:10] <= high:
                    yield rec
