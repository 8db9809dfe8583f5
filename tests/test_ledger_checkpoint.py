"""Opening the ledger costs what was appended since its checkpoint, and totals stay exact.

The checkpoint (``ledger.checkpoint.json``) is a cache of the running totals and the byte
offset they cover. These tests count the bytes a tracker reads to show it is used, change
the ledger under it in each way a user or a crash can (truncate, edit, replace) to show a
stale one is never believed, and run a second process to show a long-lived tracker still
sees every other writer.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coffee_maker.ai_providers import ledger
from coffee_maker.ai_providers.cost_tracker import BudgetExceeded, CostTracker
from coffee_maker.ai_providers.provider_config import CostControls, parse_config
from coffee_maker.autonomous.daemon import DevDaemon
from coffee_maker.autonomous.run_endings import RunOptions

NOON = datetime(2026, 11, 3, 12, 0, tzinfo=UTC).timestamp()
DAY = "2026-11-03"


def tracker(home: Path, *, every: int = 1, **limits: float | None) -> CostTracker:
    """A tracker that checkpoints after every byte it reads or writes (``every=1``)."""
    controls = CostControls(**{"daily_limit": None, "monthly_limit": None, **limits})
    return CostTracker(controls, home=home, clock=lambda: NOON, checkpoint_every=every)


def spend(home: Path, calls: int, cost: float = 0.01) -> CostTracker:
    """``calls`` recorded calls (about 230 bytes each) through a tracker, which it returns."""
    spender = tracker(home)
    for i in range(calls):
        spender.track_cost("openai", cost, {"input_tokens": i}, model="m", task_id=f"t{i % 3}")
    return spender


def rebuilt(home: Path) -> dict[str, object]:
    """What the ledger adds up to when read from scratch (the checkpoint deleted)."""
    (home / "ledger.checkpoint.json").unlink(missing_ok=True)
    return summary(tracker(home, every=1 << 40))


def summary(t: CostTracker) -> dict[str, object]:
    return {
        "day": t.get_daily_cost(),
        "month": t.get_monthly_cost(),
        "tasks": [t.get_task_cost(f"t{i}") for i in range(3)],
        "stats": t.get_provider_stats(),
    }


def test_opening_reads_only_what_follows_the_checkpoint(tmp_path: Path) -> None:
    spend(tmp_path, 60)  # ~14 KB: the first line is far outside the hashed 4 KiB tail
    path = tmp_path / "ledger.jsonl"
    assert (tmp_path / "ledger.checkpoint.json").exists()
    with open(path, "r+b") as handle:  # corrupt the first record after it was checkpointed
        handle.write(b"#" * 40)
    opened = tracker(tmp_path)
    assert opened.bytes_read == 0  # not one byte of the ledger re-read
    assert opened.get_daily_cost() == pytest.approx(0.60)
    assert opened.get_provider_stats()["openai"]["requests"] == 60


def test_a_tracker_never_reads_back_what_it_wrote(tmp_path: Path) -> None:
    own = tracker(tmp_path, every=1 << 40, per_task_limit=None)
    for _ in range(20):
        reservation = own.reserve("openai", "m", 0.5, "t0")
        own.settle(reservation, 0.25, {"output_tokens": 3})
    assert own.bytes_read == 0
    assert own.get_daily_cost() == 5.0 and own.get_reserved() == 0
    assert summary(own) == rebuilt(tmp_path)


def truncate(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size // 2 - 50)  # mid-line: the torn tail is skipped too


def edit_tail(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-100] + data[-100:].replace(b'"cost":0.01', b'"cost":0.02'))


def replace(path: Path) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    fresh = path.with_name("fresh.jsonl")
    fresh.write_bytes(b"".join(lines[:10]).replace(b'"cost":0.01', b'"cost":0.03'))
    os.replace(fresh, path)


@pytest.mark.parametrize("change", [truncate, edit_tail, replace])
def test_a_checkpoint_that_no_longer_matches_is_rebuilt(tmp_path: Path, change) -> None:
    long_lived = spend(tmp_path, 40)
    checkpoint = json.loads((tmp_path / "ledger.checkpoint.json").read_text())
    change(tmp_path / "ledger.jsonl")
    size = (tmp_path / "ledger.jsonl").stat().st_size
    fresh = tracker(tmp_path)
    got = summary(fresh)
    assert fresh.bytes_read >= size - 300  # read again from byte 0 (less a torn tail)
    again = json.loads((tmp_path / "ledger.checkpoint.json").read_text())
    assert again["tail_sha256"] != checkpoint["tail_sha256"]  # and checkpointed afresh
    assert got == rebuilt(tmp_path)
    assert got["day"] != pytest.approx(0.40)  # the change did change the totals
    if change is not edit_tail:  # a shorter or another file: a tracker that was open notices
        assert summary(long_lived) == got


def test_a_checkpoint_with_impossible_totals_is_not_believed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The checkpoint is as writable as the ledger: a negative spend must not lift a limit."""
    spend(tmp_path, 5, cost=1.0)
    path = tmp_path / "ledger.checkpoint.json"
    data = json.loads(path.read_text())
    data["stats"][0][3][-1] = -(10**12)  # cost_nanos of the day: minus $1000
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        guarded = tracker(tmp_path, daily_limit=6.0)
    assert guarded.get_daily_cost() == 5.0
    with pytest.raises(BudgetExceeded):
        guarded.reserve("openai", "m", 1.5)
    assert any("not a valid checkpoint" in r.getMessage() for r in caplog.records)


def test_deleting_the_checkpoint_is_safe(tmp_path: Path) -> None:
    before = summary(spend(tmp_path, 30))
    (tmp_path / "ledger.checkpoint.json").unlink()
    assert summary(tracker(tmp_path)) == before
    assert (tmp_path / "ledger.checkpoint.json").exists()  # and it is written again


OTHER_PROCESS = """
import sys
from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.provider_config import CostControls
other = CostTracker(CostControls(daily_limit=None), home=sys.argv[1], clock=lambda: {noon})
for _ in range(int(sys.argv[2])):
    other.track_cost("claude", 1.0, {{}}, model="m")
"""


def test_a_long_lived_tracker_sees_another_process_append(tmp_path: Path) -> None:
    daemon = tracker(tmp_path, daily_limit=10.0)
    daemon.track_cost("openai", 2.0, {}, model="m")
    read_before = daemon.bytes_read
    script = textwrap.dedent(OTHER_PROCESS.format(noon=NOON))
    subprocess.run([sys.executable, "-c", script, str(tmp_path), "7"], check=True)
    with pytest.raises(BudgetExceeded) as refused:
        daemon.reserve("openai", "m", 1.5)  # $2 + $7 by the other + $1.50 > $10
    assert refused.value.spent == 9.0
    new_bytes = daemon.bytes_read - read_before
    assert 0 < new_bytes < 7 * 300  # only the other process's seven lines were read
    assert daemon.get_provider_stats()["claude"]["requests"] == 7
    assert daemon.reserve("openai", "m", 1.0).amount == 1.0  # exactly at the limit: fits


def test_poison_after_the_checkpoint_is_skipped_with_its_line_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spend(tmp_path, 20)
    record = {"kind": "call", "ts": f"{DAY}T12:00:00.000000Z", "provider": "openai"}
    with open(tmp_path / "ledger.jsonl", "a") as handle:
        handle.write(json.dumps(record | {"cost": -1999.98}) + "\n")  # line 21
        handle.write(json.dumps(record | {"cost": 0.5}) + "\n")
    with caplog.at_level(logging.WARNING, logger="coffee_maker.ai_providers.ledger"):
        opened = tracker(tmp_path)
        assert opened.get_daily_cost() == pytest.approx(0.70)
    assert opened.bytes_read < 400  # the two new lines, not the twenty before
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "ledger.jsonl:21: skipping" in warned[0], warned


def test_chunk_boundaries_and_overlong_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Small chunks put line ends everywhere; a line past MAX_LINE is skipped, not buffered."""
    monkeypatch.setattr(ledger, "CHUNK", 97)
    monkeypatch.setattr(ledger, "MAX_LINE", 1000)
    with caplog.at_level(logging.WARNING, logger="coffee_maker.ai_providers.ledger"):
        spend(tmp_path, 25)
        with open(tmp_path / "ledger.jsonl", "ab") as handle:
            handle.write(b'{"kind":"call","provider":"' + b"x" * 5000 + b'"}\n')  # line 26
        spend(tmp_path, 5)
        small = rebuilt(tmp_path)
    assert small["day"] == pytest.approx(0.30)
    assert small["stats"]["openai"]["requests"] == 30
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and ":26: skipping a line longer than 1,000 bytes" in warned[0]
    exported = tmp_path / "out.csv"
    assert tracker(tmp_path).export_csv(exported) == 30


def test_the_daemon_shares_one_tracker_across_iterations(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    config = parse_config({}, "test", environ={})
    service = DevDaemon(config, RunOptions(repo=tmp_path))
    first, second = service.new_iteration(), service.new_iteration()
    assert first.tracker is second.tracker is service.tracker


RACER = """
import sys
from coffee_maker.ai_providers.cost_tracker import BudgetExceeded, CostTracker
from coffee_maker.ai_providers.provider_config import CostControls
controls = CostControls(daily_limit=10.0, monthly_limit=None, per_task_limit=None)
racer = CostTracker(controls, home=sys.argv[1], clock=lambda: {noon}, checkpoint_every=512)
for i in range(300):
    racer.track_cost(sys.argv[2], 0.0, {{"input_tokens": i}}, model="m")
    if i % 10 == 0:
        try:
            racer.settle(racer.reserve(sys.argv[2], "m", 0.5), 0.5)
        except BudgetExceeded:
            pass
"""


def test_processes_checkpointing_at_once_keep_totals_and_budgets_exact(tmp_path: Path) -> None:
    """Three processes append, reserve and write checkpoints at the same time: no call is
    lost or counted twice, and together they never spend past the daily limit."""
    script = textwrap.dedent(RACER.format(noon=NOON))
    racers = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path), name])
        for name in ("a", "b", "c")
    ]
    assert [r.wait(timeout=120) for r in racers] == [0, 0, 0]
    lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    paid = [r for r in lines if r["kind"] == "call" and r["cost"] > 0]
    assert len(paid) == 20  # 90 tries of $0.50 against $10: exactly twenty fit
    opened = tracker(tmp_path)
    assert opened.bytes_read < (tmp_path / "ledger.jsonl").stat().st_size  # checkpointed
    got = summary(opened)
    assert got["day"] == 10.0 and got == rebuilt(tmp_path)
    assert sum(s["requests"] for s in got["stats"].values()) == 900 + 20
