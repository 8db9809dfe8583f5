"""The fleet's budget as a tracker sees it: :class:`FleetBudget`, callable from any thread.

:class:`FleetBudget` implements the providers' layer's ``RemoteBudget`` on the budget
workflow of :mod:`coffee_maker.fleet.budget`. The agent runs in threads and the tracker is
synchronous, so the Temporal client lives on an event loop of its own, in a daemon thread;
each call waits for its answer at most ``timeout`` seconds.

It fails closed: a reservation the workflow cannot be asked about (server down, no worker
serving the budget's task queue, a timeout) raises ``BudgetUnavailable``, and no paid call
is made. A settlement or release that cannot get through is kept and sent again before the
next reservation (so no host reserves more while the fleet does not know what it spent);
the reservation it was for holds its money until then, or until it expires.

:func:`install_fleet_budget` makes it the budget of every tracker a fleet worker process
makes (:func:`fleet_cost_tracker` builds one tracker): the configuration's
``orchestrator`` (``kind: temporal``) says where; without it, nothing changes.
:func:`budget_worker` serves the budget workflow (every fleet worker runs one).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from coffee_maker.ai_providers.budget import BudgetExceeded, BudgetUnavailable, use_remote_budget
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.ledger import Reservation, to_nanos, usd
from coffee_maker.ai_providers.provider_config import CostControls
from coffee_maker.fleet.budget import (
    BudgetState,
    BudgetWorkflow,
    Limits,
    ReserveRequest,
    SettleRequest,
    Snapshot,
    budget_queue,
    workflow_id,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_SCOPE = "default"
DEFAULT_TIMEOUT = 15.0
IN_FLIGHT = 4
BATCH = 500


class FleetBudget:
    """The budget workflow of ``scope`` on the Temporal server at ``address``.

    ``controls``: the limits this host applies (its ``cost_controls``). ``task_queue``:
    where the budget workflow is served (the fleet's task queue). ``max_history``: events
    before the workflow continues as new, when this host is the one that starts it.
    """

    def __init__(
        self,
        address: str,
        controls: CostControls,
        *,
        namespace: str = "default",
        task_queue: str = "coffee-maker",
        scope: str = DEFAULT_SCOPE,
        timeout: float = DEFAULT_TIMEOUT,
        max_history: int | None = None,
    ) -> None:
        self.address, self.namespace, self.task_queue = address, namespace, task_queue
        self.scope, self.timeout = scope, timeout
        self.limits = Limits(controls.daily_limit, controls.monthly_limit, controls.per_task_limit)
        self.workflow_id = workflow_id(scope)
        self.host = socket.gethostname()
        self._max_history = max_history
        self._client: Client | None = None
        self._started = False
        self._pending: deque[SettleRequest] = deque()  # settlements/releases not yet sent
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"fleet-budget-{scope}", daemon=True
        )
        self._thread.start()
        self._connecting, self._flushing = asyncio.Lock(), asyncio.Lock()  # bound on first use
        #: Updates in flight at once from this host (the server allows 10 per workflow).
        self._in_flight = asyncio.Semaphore(IN_FLIGHT)

    # -- the loop thread ------------------------------------------------------------------------
    def _run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work()`` on the loop thread; at most ``timeout`` seconds."""
        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(work(), self.timeout), self._loop
        )
        try:
            return future.result(self.timeout + 1)
        except (TimeoutError, FutureTimeout) as exc:
            future.cancel()
            raise TimeoutError(f"no answer within {self.timeout:g}s") from exc

    def close(self) -> None:
        """Stop the loop thread (pending settlements are dropped with a warning)."""
        if self._pending:
            unsent = len(self._pending)
            log.warning("fleet budget %s: %d settlements never sent", self.scope, unsent)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _handle(self) -> WorkflowHandle[Any, Any]:
        async with self._connecting:
            await self._connect()
        assert self._client is not None
        return self._client.get_workflow_handle(self.workflow_id)

    async def _connect(self) -> None:
        if self._client is None:
            self._client = await Client.connect(self.address, namespace=self.namespace)
        if not self._started:
            state = BudgetState()
            if self._max_history is not None:
                state.max_history = self._max_history
            await self._client.start_workflow(
                BudgetWorkflow.run,
                state,
                id=self.workflow_id,
                task_queue=self.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            self._started = True

    async def _update(self, name: str, arg: Any, update_id: str | None) -> Any:
        """One update; a workflow that closed (terminated, or between runs) is tried again."""
        for attempt in range(4):
            handle = await self._handle()
            try:
                async with self._in_flight:
                    return await handle.execute_update(name, arg, id=update_id)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND or attempt == 3:
                    raise
                self._started = False  # gone: start it again (USE_EXISTING if it is back)
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _flush(self) -> None:
        """Send what is pending in one update: settlements made while the last batch was
        on its way go together in the next (their keys make a batch sent twice harmless)."""
        async with self._flushing:
            while self._pending:
                batch = list(self._pending)[:BATCH]
                await self._update("settle", batch, None)
                for _ in batch:
                    self._pending.popleft()

    # -- RemoteBudget ---------------------------------------------------------------------------
    def reserve(self, reservation: Reservation) -> None:
        request = ReserveRequest(
            id=reservation.id,
            nanos=reservation.nanos,
            ttl=max(1.0, reservation.expires - time.time()),
            limits=self.limits,
            task_id=reservation.task_id,
            host=self.host,
        )

        async def work() -> None:
            await self._flush()
            await self._update("reserve", request, f"reserve-{request.id}")

        try:
            self._run(work)
        except WorkflowUpdateFailedError as exc:
            raise self._refusal(exc, reservation) from None
        except Exception as exc:  # any failure to ask is a refusal
            self._pending.append(_release(reservation.id))  # in case it got through
            raise BudgetUnavailable(
                f"the fleet budget (scope {self.scope}, {self.address}) could not be "
                f"asked: {_describe(exc)}; no paid call is made until it answers",
                provider=reservation.provider,
                model=reservation.model,
                cause=exc,
            ) from exc

    def settle(self, reservation_id: str | None, task_id: str | None, cost: float) -> None:
        key = reservation_id or uuid.uuid4().hex
        self._send(SettleRequest(key, reservation_id, to_nanos(cost), task_id))

    def release(self, reservation_id: str) -> None:
        self._send(_release(reservation_id))

    def _send(self, request: SettleRequest) -> None:
        self._pending.append(request)
        try:
            self._run(self._flush)
        except Exception as exc:  # kept, sent again before the next reserve
            why, what = _describe(exc), "release" if request.release else "settlement"
            log.warning("fleet budget %s: %s kept for later (%s)", self.scope, what, why)

    def _refusal(self, exc: WorkflowUpdateFailedError, reservation: Reservation) -> Exception:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "BudgetExceeded":
            info = cause.details[0] if cause.details else {}
            resets = info.get("resets_at")
            return BudgetExceeded(
                str(info.get("limit")),
                float(info.get("limit_value") or 0),
                usd(int(info.get("spent") or 0)),
                usd(int(info.get("reserved") or 0)),
                usd(int(info.get("amount") or 0)),
                provider=reservation.provider,
                model=reservation.model,
                resets_at=datetime.fromtimestamp(float(resets), UTC) if resets else None,
                scope=self.scope,
            )
        return BudgetUnavailable(
            f"the fleet budget (scope {self.scope}) refused the reservation: {_describe(cause)}",
            provider=reservation.provider,
            model=reservation.model,
        )

    # -- reading ---------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The fleet's figures now (spent today and this month, reserved, per task)."""

        async def work() -> Snapshot:
            handle = await self._handle()
            return await handle.query(BudgetWorkflow.snapshot)

        return self._run(work)


def _release(reservation_id: str) -> SettleRequest:
    return SettleRequest(reservation_id, reservation_id, 0, release=True)


def _describe(exc: BaseException | None) -> str:
    text = " ".join(str(exc).split()) if exc is not None else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def budget_worker(client: Client, task_queue: str) -> Worker:
    """A worker serving the budget workflow on ``task_queue`` (run it beside the others)."""
    return Worker(client, task_queue=task_queue, workflows=[BudgetWorkflow])


def fleet_budget_for(config: Any) -> FleetBudget | None:
    """The fleet budget the configuration asks for: ``orchestrator.kind: temporal``, else None."""
    orchestrator = getattr(config, "orchestrator", None)
    if orchestrator is None or getattr(orchestrator, "kind", None) != "temporal":
        return None
    return FleetBudget(
        getattr(orchestrator, "address", None) or "localhost:7233",
        config.cost_controls,
        namespace=getattr(orchestrator, "namespace", None) or "default",
        task_queue=budget_queue(getattr(orchestrator, "budget_scope", None) or DEFAULT_SCOPE),
        scope=getattr(orchestrator, "budget_scope", None) or DEFAULT_SCOPE,
    )


def fleet_cost_tracker(config: Any, **options: Any) -> CostTracker:
    """The tracker of a host: its own ledger, and the fleet's budget when there is a fleet."""
    return CostTracker(config.cost_controls, remote_budget=fleet_budget_for(config), **options)


def install_fleet_budget(config: Any) -> FleetBudget | None:
    """Make the fleet's budget (if the configuration has a fleet) the one every tracker of
    this process asks, wherever it is made (the daemon's, the agent's): a fleet worker calls
    this once at start. Returns it (None on a single machine: nothing changes)."""
    remote = fleet_budget_for(config)
    use_remote_budget(remote)
    return remote
