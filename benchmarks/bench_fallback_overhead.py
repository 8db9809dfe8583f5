"""What FallbackStrategy costs per call, against calling the provider directly.

An in-process provider answers instantly, so the difference is the strategy's own work:
the chain walk, the cooldown and quota checks, events, and — with a CostTracker — the
budget reservation and the settled ledger record (two locked appends per call; the
settled call is fsync'd). The tracker is measured on an empty ledger and on one of 1M
records (opened from its checkpoint, built first), and against the floor it cannot go
below, measured in the same run: appending one line to a file and fsyncing it.

    python benchmarks/bench_fallback_overhead.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CALLS = 2000


BIG = 1_000_000


def main() -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-fallback-") as home,
        tempfile.TemporaryDirectory(prefix="bench-fallback-big-") as big,
    ):
        os.environ["COFFEE_MAKER_HOME"] = home
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_ledger import build_ledger

        build_ledger(Path(big), BIG)
        run(home, big)


def fsync_alone(home: str) -> Callable[[], object]:
    """One ~250-byte line appended and fsync'd: what durability costs on this disk."""
    fd = os.open(Path(home) / "fsync-floor", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    line = b"x" * 250 + b"\n"

    def call() -> None:
        os.write(fd, line)
        os.fsync(fd)

    return call


def run(home: str, big: str) -> None:

    from coffee_maker.ai_providers.base import BaseAIProvider, Message, ProviderResult, make_usage
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.fallback_strategy import FallbackConfig, FallbackStrategy
    from coffee_maker.ai_providers.provider_config import CostControls, parse_config
    from coffee_maker.ai_providers.provider_factory import ProviderFactory, register_provider

    class InstantProvider(BaseAIProvider):
        provider_type = "instant"

        def _complete(self, request) -> ProviderResult:
            usage = make_usage(120, 30)
            return ProviderResult("ok", self.model, self.name, usage, cost=self.cost_of(usage))

        def check_available(self) -> bool:
            return True

    register_provider("instant", InstantProvider)
    config = parse_config(
        {
            "providers": {
                "fast": {
                    "type": "instant",
                    "model": "m",
                    "max_tokens": 1000,
                    "pricing": {"input": 3.0, "output": 15.0},
                }
            }
        },
        "bench",
        environ={},
    )
    factory = ProviderFactory(config=config)
    provider = factory.get_provider("fast")
    messages = [Message.user("Explain this diff in one sentence.")]
    no_tracker = FallbackStrategy(FallbackConfig(fallback_order=["fast"]), factory)
    tracker = CostTracker(CostControls(daily_limit=None, monthly_limit=None), home=home)
    with_tracker = FallbackStrategy(FallbackConfig(fallback_order=["fast"]), factory, tracker)
    controls = CostControls(daily_limit=1e6, monthly_limit=1e6)  # limits checked, never hit
    CostTracker(controls, home=big)  # the one full read: it writes the checkpoint
    started = time.perf_counter()
    big_tracker = CostTracker(controls, home=big)
    opened = (time.perf_counter() - started) * 1000
    with_big = FallbackStrategy(FallbackConfig(fallback_order=["fast"]), factory, big_tracker)

    rows = [
        ("provider.chat directly", lambda: provider.chat(messages, max_tokens=100)),
        ("FallbackStrategy, no tracker", lambda: no_tracker.chat(messages, max_tokens=100)),
        ("write + fsync one line (floor)", fsync_alone(home)),
        ("FallbackStrategy + CostTracker", lambda: with_tracker.chat(messages, max_tokens=100)),
        (f"  same, ledger of {BIG:,}", lambda: with_big.chat(messages, max_tokens=100)),
    ]
    print(f"median of {CALLS} calls (the ledger in a temporary directory)\n")
    print(f"{'path':34} {'median µs':>10} {'p90 µs':>10} {'overhead µs':>12}")
    base, medians = None, {}
    for (name, _), (median, p90) in zip(rows, measure([c for _, c in rows]), strict=True):
        base = median if base is None else base
        medians[name] = median
        print(f"{name:34} {median:10.1f} {p90:10.1f} {median - base:12.1f}")
    floor = medians[rows[2][0]]
    for name, _ in rows[3:]:
        print(f"{name.strip():34} / fsync floor: {medians[name] / floor:.2f}x")
    # What the tracker adds besides the disk: the same two calls with fsync skipped.
    # Only to split the figure above; the product always fsyncs the call record.
    real_fsync, os.fsync = os.fsync, lambda fd: None
    try:
        tracked = rows[3:]
        for (name, _), (median, p90) in zip(tracked, measure([c for _, c in tracked]), strict=True):
            print(f"{name.strip() + ' (no fsync)':34} {median:10.1f} {p90:10.1f}")
    finally:
        os.fsync = real_fsync
    print(f"\nledger records written: {len(tracker.path.read_text().splitlines()):,}")
    print(f"opening the {BIG:,}-record ledger from its checkpoint: {opened:.0f} ms")


def measure(calls: list[Callable[[], object]]) -> list[tuple[float, float]]:
    """(median, p90) µs of each call, taken in turns: the disk's fsync latency drifts with
    the machine's load, and interleaving makes every row see the same drift."""
    for _ in range(50):
        for call in calls:
            call()
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(CALLS):
        for call, times in zip(calls, samples, strict=True):
            start = time.perf_counter_ns()
            call()
            times.append((time.perf_counter_ns() - start) / 1000)
    figures = []
    for times in samples:
        times.sort()
        figures.append((statistics.median(times), times[int(len(times) * 0.9)]))
    return figures


if __name__ == "__main__":
    main()
