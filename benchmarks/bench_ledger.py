"""The ledger as it grows: recording stays flat, and opening costs what is new since a checkpoint.

1. For 1k, 10k and 100k existing records: build the ledger file directly, open a
   CostTracker on it (no checkpoint yet: this first open reads it all), then time OPS
   operations of ``track_cost`` + ``get_daily_cost``. Each record is a locked, fsync'd
   append the tracker applies without reading it back; the per-operation time should
   not depend on the ledger's size (the fsync's latency dominates it and drifts).
2. At 1M records (about 250 MB), a fresh process opens a tracker and answers today's
   total, measured in a subprocess (wall time inside it and of the whole process, peak
   RSS from ``resource.getrusage``): first with no checkpoint (the full read every open paid
   before checkpoints: the baseline, which also writes the checkpoint), then from the
   checkpoint, then after another process appended OPS records past it. The ratio is
   baseline / checkpointed, measured in the same run. ``python -c`` importing the
   tracker alone is the memory floor.

    python benchmarks/bench_ledger.py            # both parts
    python benchmarks/bench_ledger.py --open     # part 2 only
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

SIZES = (1_000, 10_000, 100_000)
BIG = 1_000_000
OPS = 500

OPEN = """
import json, resource, sys, time
began = time.perf_counter()
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.provider_config import CostControls
imported = time.perf_counter()
if sys.argv[2] == "open":
    tracker = CostTracker(CostControls(daily_limit=None, monthly_limit=None), home=sys.argv[1])
    today = tracker.get_daily_cost()
    read = getattr(tracker._file, "bytes_read", None)
else:
    today = read = None
done = time.perf_counter()
print(json.dumps({
    "import_ms": (imported - began) * 1000, "open_ms": (done - imported) * 1000,
    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "today": today, "bytes_read": read,
}))
"""

APPEND = """
import sys
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.provider_config import CostControls
tracker = CostTracker(CostControls(daily_limit=None, monthly_limit=None), home=sys.argv[1])
for i in range(int(sys.argv[2])):
    tracker.track_cost("openai", 0.001, {"input_tokens": i}, model="m")
"""


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


def run_python(code: str, *args: str) -> str:
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    if not done.stdout.startswith("{"):
        return done.stdout
    figures = json.loads(done.stdout) | {"process_ms": (time.perf_counter() - began) * 1000}
    return json.dumps(figures)


def flat_recording() -> None:
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.provider_config import CostControls

    controls = CostControls(daily_limit=None, monthly_limit=None)
    print(f"record + today's total, {OPS} operations per size\n")
    print(f"{'existing':>9} {'file MB':>8} {'1st open ms':>12} {'median µs':>10} {'p90 µs':>8}")
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
            print(f"{size:>9,} {megabytes:8.1f} {opened:12.0f} {median:10.1f} {p90:8.1f}")


def fresh_open() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        home = Path(tmp)
        build_ledger(home, BIG)
        megabytes = (home / "ledger.jsonl").stat().st_size / 1e6
        print(f"\na fresh process opens the ledger ({BIG:,} records, {megabytes:.0f} MB) and")
        print("answers today's total; times inside the subprocess, peak RSS of the subprocess\n")
        print(
            f"{'case':38} {'open+today ms':>14} {'import ms':>10} {'process ms':>11} "
            f"{'peak MB':>8} {'read MB':>8}"
        )
        rows = [("python -c, importing the tracker only", "import")]
        rows += [("no checkpoint (baseline: full read)", "open"), ("from the checkpoint", "open")]
        figures = {}
        for name, mode in rows:
            if name.startswith("no checkpoint"):
                (home / "ledger.checkpoint.json").unlink(missing_ok=True)
            figures[name] = report(name, json.loads(run_python(OPEN, tmp, mode)))
        run_python(APPEND, tmp, str(OPS))
        report(f"after {OPS} more from another process", json.loads(run_python(OPEN, tmp, "open")))
        base, fast = figures[rows[1][0]]["open_ms"], figures[rows[2][0]]["open_ms"]
        print(f"\nbaseline / checkpointed open: {base / fast:.0f}x")
        has_checkpoint = (home / "ledger.checkpoint.json").exists()
        print(f"checkpoint file: {'present' if has_checkpoint else 'absent (old code?)'}")


def report(name: str, figures: dict) -> dict:
    read = figures["bytes_read"]
    read_mb = "-" if read is None else f"{read / 1e6:.1f}"
    open_ms = "-" if figures["today"] is None else f"{figures['open_ms']:.0f}"
    print(
        f"{name:38} {open_ms:>14} {figures['import_ms']:10.0f} {figures['process_ms']:11.0f} "
        f"{figures['rss_mb']:8.0f} {read_mb:>8}"
    )
    return figures


def main() -> None:
    os.environ.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    if "--open" not in sys.argv:
        flat_recording()
    fresh_open()


if __name__ == "__main__":
    main()
