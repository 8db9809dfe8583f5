"""Recording a call and reading today's total stay flat as the ledger grows.

For 1k, 10k and 100k existing records: build the ledger file directly, open a
CostTracker on it (the one full read, at start), then time OPS operations of
``track_cost`` + ``get_daily_cost``. Each record is a locked, fsync'd append; the
tracker reads only the bytes appended since its last read, so the per-operation time
should not depend on the ledger's size.

    python benchmarks/bench_ledger.py
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SIZES = (1_000, 10_000, 100_000)
OPS = 500


def build_ledger(home: Path, records: int) -> None:
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / records
    with open(home / "ledger.jsonl", "w") as handle:
        for i in range(records):
            ts = (start + step * i).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            record = {
                "kind": "call",
                "ts": ts,
                "provider": ("claude", "openai", "gemini")[i % 3],
                "model": "m",
                "task_id": f"task-{i // 50}",
                "input_tokens": 1000 + i % 500,
                "output_tokens": 200,
                "cache_read_tokens": 0,
                "cache_write_tokens": 0,
                "cost": 0.0123,
                "outcome": "ok",
            }
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")


def main() -> None:
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.provider_config import CostControls

    controls = CostControls(daily_limit=None, monthly_limit=None)
    print(f"record + today's total, {OPS} operations per size\n")
    print(f"{'existing':>9} {'file MB':>8} {'open ms':>8} {'median µs':>10} {'p90 µs':>8}")
    for size in SIZES:
        with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
            home = Path(tmp)
            build_ledger(home, size)
            megabytes = (home / "ledger.jsonl").stat().st_size / 1e6
            started = time.perf_counter()
            tracker = CostTracker(controls, home=home)
            opened = (time.perf_counter() - started) * 1000
            samples = []
            for i in range(OPS):
                began = time.perf_counter_ns()
                tracker.track_cost("claude", 0.001, {"input_tokens": i}, model="m")
                tracker.get_daily_cost()
                samples.append((time.perf_counter_ns() - began) / 1000)
            samples.sort()
            median, p90 = statistics.median(samples), samples[int(OPS * 0.9)]
            print(f"{size:>9,} {megabytes:8.1f} {opened:8.0f} {median:10.1f} {p90:8.1f}")


if __name__ == "__main__":
    main()
