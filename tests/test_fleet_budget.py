"""One budget for the fleet, on a real Temporal dev server (tests/fleet_budget_support.py).

Each "host" is a CostTracker with its own ledger directory and its own FleetBudget (its
own Temporal client on its own event loop thread), as on two machines; the budget
workflow runs in a worker thread that a test may stop and start again.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from fleet_budget_support import DevServer, free_port
from temporalio.client import Client

from coffee_maker.ai_providers.budget import BudgetExceeded, BudgetUnavailable
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.provider_config import CostControls
from coffee_maker.fleet.budget import workflow_id
from coffee_maker.fleet.budget_client import (
    FleetBudget,
    budget_worker,
    fleet_budget_for,
    fleet_cost_tracker,
    install_fleet_budget,
)

pytestmark = pytest.mark.timeout(180)
NANOS = 1_000_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    dev = DevServer(tmp_path_factory.mktemp("temporal"))
    yield dev
    dev.stop()


class WorkerThread:
    """A budget worker on its own event loop thread (a fleet worker process, in small)."""

    def __init__(self, address: str, task_queue: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = self._call(Client.connect(address))

        async def build():  # a worker is made on the loop that runs it
            return budget_worker(self.client, task_queue)

        self.worker = self._call(build())
        self.running = asyncio.run_coroutine_threadsafe(self.worker.run(), self.loop)

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def history(self, scope: str):
        async def fetch():
            return await self.client.get_workflow_handle(workflow_id(scope)).fetch_history()

        return self._call(fetch())

    def stop(self) -> None:
        self._call(self.worker.shutdown())
        self.running.result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def fleet(server, tmp_path):
    """(scope, task queue, make_host, worker): a fresh budget scope per test."""
    scope, queue = f"t-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4().hex[:8]}"
    worker = WorkerThread(server.address, queue)
    budgets: list[FleetBudget] = []

    def make_host(name: str, controls: CostControls, **options) -> CostTracker:
        options.setdefault("timeout", 10)
        remote = FleetBudget(server.address, controls, task_queue=queue, scope=scope, **options)
        budgets.append(remote)
        return CostTracker(controls, home=tmp_path / name, remote_budget=remote)

    state = SimpleNamespace(scope=scope, queue=queue, make_host=make_host, worker=worker)
    yield state
    for remote in budgets:
        remote.close()
    state.worker.stop()


DAILY_ONLY = CostControls(daily_limit=1.0, monthly_limit=None, per_task_limit=None)


def test_two_hosts_racing_for_the_last_dollars_never_overspend(fleet):
    east, west = fleet.make_host("east", DAILY_ONLY), fleet.make_host("west", DAILY_ONLY)
    east.track_cost("claude", 0.91)  # spent before the race: $0.09 left for the fleet
    accepted: dict[str, list] = {"east": [], "west": []}
    refused: dict[str, list[BudgetExceeded]] = {"east": [], "west": []}

    def attempt(host_name: str) -> None:
        host = east if host_name == "east" else west
        try:
            accepted[host_name].append(host.reserve("claude", "m", 0.02))
        except BudgetExceeded as err:
            refused[host_name].append(err)

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(attempt, ["east", "west"] * 12))

    taken = [r for rs in accepted.values() for r in rs]
    assert len(taken) == 4  # 4 x $0.02 fit in $0.09, a fifth never does
    assert sum(r.nanos for r in taken) <= 0.09 * NANOS
    assert len(refused["east"]) + len(refused["west"]) == 20
    assert {e.limit for e in refused["east"] + refused["west"]} == {"daily"}
    assert len(refused["west"]) >= 8
    # West spent nothing itself: only the fleet's budget could refuse it.
    assert all(e.scope == fleet.scope and "across the fleet" in str(e) for e in refused["west"])
    # Each host's own ledger holds only what the fleet accepted from it.
    assert east.get_reserved() == pytest.approx(0.02 * len(accepted["east"]))
    assert west.get_reserved() == pytest.approx(0.02 * len(accepted["west"]))
    figures = east.remote_budget.snapshot()
    assert (figures.spent_today, figures.reserved, figures.holds) == (0.91 * NANOS, 0.08 * NANOS, 4)
    # A refused reservation never entered the history: only the accepted ones did.
    reserves = [
        event
        for event in fleet.worker.history(fleet.scope).events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
        and event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        == "reserve"
    ]
    assert len(reserves) == 4


HOST_PROCESS = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from coffee_maker.ai_providers.budget import BudgetExceeded
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.provider_config import CostControls
from coffee_maker.fleet.budget_client import FleetBudget
address, queue, scope, home = sys.argv[1:]
controls = CostControls(daily_limit=1.0, monthly_limit=None, per_task_limit=None)
host = CostTracker(controls, home=home, remote_budget=FleetBudget(
    address, controls, task_queue=queue, scope=scope, timeout=30))
def attempt(_):
    try:
        return host.reserve("claude", "m", 0.07).nanos
    except BudgetExceeded:
        return 0
with ThreadPoolExecutor(10) as pool:
    print(json.dumps(list(pool.map(attempt, range(10)))))
"""


def test_two_host_processes_racing_never_overspend(fleet, server, tmp_path):
    command = [sys.executable, "-c", HOST_PROCESS, server.address, fleet.queue, fleet.scope]
    hosts = [
        subprocess.Popen([*command, str(tmp_path / f"host{n}")], stdout=subprocess.PIPE, text=True)
        for n in range(2)
    ]
    taken = [json.loads(host.communicate(timeout=120)[0]) for host in hosts]
    accepted = [nanos for answers in taken for nanos in answers if nanos]
    assert len(accepted) == 14  # 14 x $0.07 = $0.98 of the $1.00: the 15th never fits
    assert sum(accepted) <= NANOS
    assert all(len([n for n in answers if n]) >= 4 for answers in taken)  # 10 tries each


def test_settling_with_the_real_cost_frees_the_rest(fleet):
    east, west = fleet.make_host("east", DAILY_ONLY), fleet.make_host("west", DAILY_ONLY)
    held = east.reserve("claude", "m", 0.6, task_id="P1")
    with pytest.raises(BudgetExceeded) as refused:
        west.reserve("claude", "m", 0.5, task_id="P2")
    assert "spent $0.00 + reserved $0.60 + this call up to $0.50" in str(refused.value)
    resets = refused.value.resets_at  # the next UTC midnight, on the workflow's clock
    assert (resets.hour, resets.minute) == (0, 0) and 0 < resets.timestamp() - time.time() <= 86400
    east.settle(held, 0.1, {"input_tokens": 10, "output_tokens": 5})
    west.reserve("claude", "m", 0.5, task_id="P2")  # the $0.50 the call did not use is free
    figures = west.remote_budget.snapshot()
    assert (figures.spent_today, figures.reserved) == (0.1 * NANOS, 0.5 * NANOS)
    assert figures.tasks == {"P1": 0.1 * NANOS}
    assert east.get_daily_cost() == pytest.approx(0.1)  # the local ledger keeps the record
    assert west.get_daily_cost() == 0


def test_a_released_reservation_gives_the_money_back(fleet):
    east, west = fleet.make_host("east", DAILY_ONLY), fleet.make_host("west", DAILY_ONLY)
    held = east.reserve("claude", "m", 0.9)
    east.release(held)
    west.reserve("claude", "m", 0.9)
    assert west.remote_budget.snapshot().spent_today == 0


def test_an_expired_reservation_of_a_dead_host_is_freed(fleet):
    dead, alive = fleet.make_host("dead", DAILY_ONLY), fleet.make_host("alive", DAILY_ONLY)
    dead.reserve("claude", "m", 0.8, ttl=2)  # and the host dies: never settled
    with pytest.raises(BudgetExceeded):
        alive.reserve("claude", "m", 0.5)
    deadline = time.monotonic() + 20
    while alive.remote_budget.snapshot().holds and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive.remote_budget.snapshot().holds == 0  # the workflow's timer freed it
    alive.reserve("claude", "m", 0.5)


def test_the_per_task_limit_counts_every_host(fleet):
    controls = CostControls(daily_limit=10.0, monthly_limit=None, per_task_limit=0.5)
    east, west = fleet.make_host("east", controls), fleet.make_host("west", controls)
    east.settle(east.reserve("claude", "m", 0.3, task_id="repo#P1"), 0.3)
    with pytest.raises(BudgetExceeded) as refused:
        west.reserve("claude", "m", 0.3, task_id="repo#P1")
    assert refused.value.limit == "per_task"
    west.reserve("claude", "m", 0.3, task_id="repo#P2")


def test_the_budget_survives_a_worker_restart_and_continue_as_new(fleet, server):
    host = fleet.make_host("east", DAILY_ONLY, max_history=40)
    for _ in range(5):
        host.settle(host.reserve("claude", "m", 0.05), 0.01)
    fleet.worker.stop()  # the worker dies; the workflow's state is on the server
    answer: dict[str, object] = {}
    waiting = threading.Thread(
        target=lambda: answer.setdefault("r", host.reserve("claude", "m", 0.05))
    )
    waiting.start()  # asked while no worker serves the budget: it waits for one
    time.sleep(1)
    assert "r" not in answer
    fleet.worker = WorkerThread(server.address, fleet.queue)
    waiting.join(15)
    host.settle(answer["r"], 0.01)
    for _ in range(10):  # enough updates to continue as new (max_history 40)
        host.settle(host.reserve("claude", "m", 0.05), 0.01)
    figures = host.remote_budget.snapshot()
    assert figures.spent_today == 16 * 0.01 * NANOS
    assert figures.reserved == 0
    assert figures.generation >= 1


def test_a_settlement_that_cannot_get_through_is_sent_before_the_next_reservation(
    fleet, server, caplog
):
    host = fleet.make_host("east", DAILY_ONLY, timeout=2)
    held = host.reserve("claude", "m", 0.4, task_id="P1")
    fleet.worker.stop()
    host.settle(held, 0.3)  # the call was made: no error, the ledger has it, kept for later
    assert "settlement kept for later" in caplog.text
    assert host.get_daily_cost() == pytest.approx(0.3)
    with pytest.raises(BudgetUnavailable):
        host.reserve("claude", "m", 0.1)  # no budget to ask: refused
    fleet.worker = WorkerThread(server.address, fleet.queue)
    host.reserve("claude", "m", 0.5, task_id="P2")
    figures = host.remote_budget.snapshot()
    assert (figures.spent_today, figures.reserved) == (0.3 * NANOS, 0.5 * NANOS)
    assert figures.tasks == {"P1": 0.3 * NANOS}  # counted once, however often it was sent


def test_no_worker_serving_the_budget_fails_closed(server, tmp_path):
    remote = FleetBudget(server.address, DAILY_ONLY, task_queue="nobody", scope="idle", timeout=2)
    host = CostTracker(DAILY_ONLY, home=tmp_path, remote_budget=remote)
    started = time.monotonic()
    with pytest.raises(BudgetUnavailable) as refused:
        host.reserve("claude", "m", 0.1)
    assert time.monotonic() - started < 10
    assert "no paid call is made" in str(refused.value)
    assert host.get_reserved() == 0
    remote.close()


def test_an_installed_fleet_budget_is_every_new_trackers(tmp_path):
    orchestrator = SimpleNamespace(kind="temporal", address=f"127.0.0.1:{free_port()}")
    remote = install_fleet_budget(
        SimpleNamespace(cost_controls=DAILY_ONLY, orchestrator=orchestrator)
    )
    try:
        made_anywhere = CostTracker(DAILY_ONLY, home=tmp_path)  # as the daemon makes its own
        assert made_anywhere.remote_budget is remote
    finally:
        install_fleet_budget(SimpleNamespace(cost_controls=DAILY_ONLY))
        remote.close()
    assert CostTracker(DAILY_ONLY, home=tmp_path).remote_budget is None


def test_an_unreachable_server_fails_closed(tmp_path):
    nobody = f"127.0.0.1:{free_port()}"
    remote = FleetBudget(nobody, DAILY_ONLY, scope="lost", timeout=3)
    host = CostTracker(DAILY_ONLY, home=tmp_path, remote_budget=remote)
    with pytest.raises(BudgetUnavailable) as refused:
        host.reserve("claude", "m", 0.1)
    message = str(refused.value)
    assert "budget_exceeded on claude/m" in message and nobody in message
    assert "no paid call is made until it answers" in message
    assert host.get_reserved() == 0  # the local reservation was given back
    assert host.reserve("ollama", "q", 0.0).nanos == 0  # a free call needs no budget
    host.track_cost("claude", 0.0)  # nothing to tell the fleet: no wait, no error
    remote.close()


def test_single_machine_mode_has_no_remote_budget(tmp_path):
    alone = SimpleNamespace(cost_controls=DAILY_ONLY)
    assert fleet_budget_for(alone) is None
    assert fleet_cost_tracker(alone, home=tmp_path).remote_budget is None
    assert install_fleet_budget(alone) is None
    assert CostTracker(DAILY_ONLY, home=tmp_path).remote_budget is None
    orchestrator = SimpleNamespace(kind="temporal", address="h:1", budget_scope="team-a")
    remote = fleet_budget_for(SimpleNamespace(cost_controls=DAILY_ONLY, orchestrator=orchestrator))
    assert (remote.address, remote.scope, remote.workflow_id) == (
        "h:1",
        "team-a",
        "coffee-maker-budget/team-a",
    )
    remote.close()


def test_the_providers_layer_loads_nothing_of_the_fleet():
    probe = (
        "import sys; import coffee_maker.ai_providers.cost_tracker, "
        "coffee_maker.ai_providers.fallback_strategy; "
        "print(sorted(m for m in sys.modules "
        "if m.startswith(('temporalio', 'coffee_maker.fleet'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_fallback_makes_no_paid_call_without_the_fleet_budget(tmp_path):
    from test_fallback_strategy import CALLS, SCRIPTS, FakeTime, make_factory, make_strategy

    from coffee_maker.ai_providers.base import Message

    CALLS.clear()
    SCRIPTS.clear()
    factory = make_factory(
        {"paid": {"model": "p1"}, "free": {"model": "f1", "pricing": {"input": 0, "output": 0}}},
        fallback={"fallback_order": ["paid", "free"]},
    )
    remote = FleetBudget(f"127.0.0.1:{free_port()}", DAILY_ONLY, scope="lost", timeout=2)
    tracker = CostTracker(DAILY_ONLY, home=tmp_path, remote_budget=remote)
    try:
        strategy = make_strategy(factory, FakeTime(), tracker, fallback_order=["paid", "free"])
        result = strategy.chat([Message.user("hi")])
    finally:
        remote.close()
    assert result.provider == "free" and CALLS == ["free/f1"]  # the paid one never called
    assert tracker.get_reserved() == 0 and tracker.get_daily_cost() == 0
    paid = [e for e in strategy.events if e.provider == "paid"]
    assert [e.kind for e in paid] == ["skip", "switch"]  # never an attempt
    assert "fleet budget (scope lost" in paid[0].message
    assert "no paid call is made until it answers" in paid[0].message
