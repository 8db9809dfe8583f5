"""The cost ledger: exact totals, concurrent writers, crashes, reservations, stats and CSV."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from coffee_maker.ai_providers.cost_tracker import BudgetExceeded, CostTracker
from coffee_maker.ai_providers.provider_config import CostControls

NOON = datetime(2026, 11, 3, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def tracker_at(home, clock, **limits) -> CostTracker:
    controls = CostControls(**{"daily_limit": 10.0, "per_task_limit": 2.0, **limits})
    return CostTracker(controls, home=home, clock=clock)


def ledger_lines(home) -> list[str]:
    return (home / "ledger.jsonl").read_text().splitlines()


def test_track_cost_and_the_contract_api(tmp_path, clock):
    tracker = tracker_at(tmp_path, clock)
    tracker.track_cost("openai", 0.0123, {"input_tokens": 1000, "output_tokens": 200})
    tracker.track_cost("claude", 0.1, {"input_tokens": 5}, model="sonnet", task_id="t1")
    assert tracker.get_daily_cost() == pytest.approx(0.1123)
    assert tracker.get_monthly_cost() == pytest.approx(0.1123)
    assert tracker.get_task_cost("t1") == pytest.approx(0.1)
    assert tracker.check_cost_limit("openai", 9.8) is True
    assert tracker.check_cost_limit("openai", 9.9) is False
    stats = tracker.get_provider_stats()
    assert stats["openai"]["requests"] == 1 and stats["openai"]["input_tokens"] == 1000
    record = json.loads(ledger_lines(tmp_path)[0])
    assert record["provider"] == "openai" and record["ts"].startswith("2026-11-03T12:00:00")
    assert record["cost"] == 0.0123 and record["outcome"] == "ok"


def test_totals_survive_a_restart(tmp_path, clock):
    tracker_at(tmp_path, clock).track_cost("openai", 1.25, {}, task_id="t")
    again = tracker_at(tmp_path, clock)
    assert again.get_daily_cost() == 1.25 and again.get_task_cost("t") == 1.25


def test_the_ledger_is_only_ever_appended_to(tmp_path, clock):
    tracker = tracker_at(tmp_path, clock)
    tracker.track_cost("a", 0.5, {})
    path = tmp_path / "ledger.jsonl"
    before, inode = path.read_bytes(), path.stat().st_ino
    reservation = tracker.reserve("a", "m", 1.0, "t")
    tracker.settle(reservation, 0.25, {"output_tokens": 10})
    after = path.read_bytes()
    assert after.startswith(before) and path.stat().st_ino == inode
    assert [json.loads(line)["kind"] for line in ledger_lines(tmp_path)] == [
        "call",
        "reserve",
        "call",
    ]


WRITER = textwrap.dedent(
    """
    import sys
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.ai_providers.provider_config import CostControls

    tracker = CostTracker(CostControls(daily_limit=None, per_task_limit=None), home=sys.argv[1])
    for i in range(1000):
        tracker.track_cost(sys.argv[2], 0.000123 * (i % 7 + 1), {"input_tokens": i}, model="m")
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name])
        for name in ("first", "second")
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    records = [json.loads(line) for line in ledger_lines(tmp_path)]
    assert len(records) == 2000
    assert {r["provider"] for r in records} == {"first", "second"}
    expected = 2 * sum(Decimal("0.000123") * (i % 7 + 1) for i in range(1000))
    tracker = CostTracker(CostControls(daily_limit=None), home=tmp_path)
    assert Decimal(str(tracker.get_daily_cost())) == expected
    assert round(sum(Decimal(str(r["cost"])) for r in records), 9) == expected
    assert tracker.stats()["first"].requests == 1000


def test_a_torn_last_line_is_skipped_with_one_warning(tmp_path, clock, caplog):
    tracker_at(tmp_path, clock).track_cost("a", 1.0, {})
    with open(tmp_path / "ledger.jsonl", "a") as handle:
        handle.write('{"kind": "call", "ts": "2026-11-03T12:00:01Z", "provider": "a", "co')
    with caplog.at_level(logging.WARNING):
        tracker = tracker_at(tmp_path, clock)
        assert tracker.get_daily_cost() == 1.0
        tracker.track_cost("b", 2.0, {})
        assert tracker.get_daily_cost() == 3.0
    torn = [r for r in caplog.records if "skipping" in r.getMessage()]
    assert len(torn) == 1 and "incomplete last line" in torn[0].getMessage()
    lines = ledger_lines(tmp_path)
    assert json.loads(lines[-1])["provider"] == "b"  # the next append starts a fresh line
    assert tracker_at(tmp_path, clock).get_daily_cost() == 3.0


def test_a_record_that_is_not_a_call_is_skipped_not_fatal(tmp_path, clock, caplog):
    (tmp_path / "ledger.jsonl").write_text('{"kind": "call"}\nnot json\n[1, 2]\n')
    with caplog.at_level(logging.WARNING):
        tracker = tracker_at(tmp_path, clock)
        tracker.track_cost("a", 0.5, {})
    assert tracker.get_daily_cost() == 0.5
    assert len([r for r in caplog.records if "skipping" in r.getMessage()]) == 3


def test_a_deleted_ledger_starts_the_totals_over(tmp_path, clock):
    tracker = tracker_at(tmp_path, clock)
    tracker.track_cost("a", 1.0, {})
    (tmp_path / "ledger.jsonl").unlink()
    assert tracker.get_daily_cost() == 0.0
    tracker.track_cost("a", 0.25, {})
    assert tracker.get_daily_cost() == 0.25
    assert len(ledger_lines(tmp_path)) == 1


def test_another_process_s_appends_are_seen(tmp_path, clock):
    reader, writer = tracker_at(tmp_path, clock), tracker_at(tmp_path, clock)
    assert reader.get_daily_cost() == 0.0
    writer.track_cost("a", 0.75, {})
    assert reader.get_daily_cost() == 0.75


# -- reservations and limits -------------------------------------------------------------


def test_reservations_are_seen_by_another_tracker(tmp_path, clock):
    one, two = tracker_at(tmp_path, clock), tracker_at(tmp_path, clock)
    held = one.reserve("claude", "sonnet", 8.0, task_id=None)
    assert two.get_reserved() == 8.0
    assert two.check_cost_limit("openai", 3.0) is False
    with pytest.raises(BudgetExceeded) as caught:
        two.reserve("openai", "gpt", 3.0)
    error = caught.value
    assert error.limit == "daily" and error.limit_value == 10.0
    assert (error.spent, error.reserved, error.amount) == (0.0, 8.0, 3.0)
    assert error.resets_at == datetime(2026, 11, 4, tzinfo=UTC)
    assert "cost_controls.daily_limit $10.00" in str(error)
    one.settle(held, 0.5, {"input_tokens": 100, "output_tokens": 10})
    assert two.get_reserved() == 0.0 and two.get_daily_cost() == 0.5
    two.release(two.reserve("openai", "gpt", 3.0))
    assert one.get_reserved() == 0.0


def test_a_reservation_of_a_dead_process_or_past_its_expiry_holds_nothing(tmp_path, clock):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    tracker = tracker_at(tmp_path, clock)
    held = tracker.reserve("a", "m", 5.0, ttl=60)
    with open(tmp_path / "ledger.jsonl") as handle:
        record = json.loads(handle.readline())
    record.update(id="crashed", pid=int(gone.stdout))
    with open(tmp_path / "ledger.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")
    assert tracker.get_reserved() == 5.0  # ours (alive); the dead process's is not counted
    clock.now += 61
    assert tracker.get_reserved() == 0.0
    assert held.amount == 5.0


def test_per_task_and_monthly_limits(tmp_path, clock):
    tracker = tracker_at(tmp_path, clock, monthly_limit=3.0)
    tracker.track_cost("a", 1.5, {}, task_id="t1")
    with pytest.raises(BudgetExceeded) as caught:
        tracker.reserve("a", "m", 0.6, "t1")
    assert caught.value.limit == "per_task" and caught.value.resets_at is None
    tracker.reserve("a", "m", 0.6, "t2")
    with pytest.raises(BudgetExceeded) as caught:
        tracker.reserve("a", "m", 1.0, "t3")
    assert caught.value.limit == "monthly"
    assert caught.value.resets_at == datetime(2026, 12, 1, tzinfo=UTC)


def test_a_free_call_always_fits_and_reserves_nothing(tmp_path, clock):
    tracker = tracker_at(tmp_path, clock, daily_limit=0.0)
    reservation = tracker.reserve("ollama", "qwen", 0.0)
    tracker.settle(reservation, 0.0, {"input_tokens": 10, "output_tokens": 5})
    assert [json.loads(line)["kind"] for line in ledger_lines(tmp_path)] == ["call"]
    assert tracker.stats()["ollama"].requests == 1


def test_days_are_utc_days(tmp_path, clock):
    clock.now = datetime(2026, 11, 3, 23, 59, tzinfo=UTC).timestamp()
    tracker = tracker_at(tmp_path, clock)
    tracker.track_cost("a", 1.0, {})
    clock.now = datetime(2026, 11, 4, 0, 1, tzinfo=UTC).timestamp()
    tracker.track_cost("a", 2.0, {})
    assert tracker.get_daily_cost() == 2.0
    assert tracker.get_daily_cost(date(2026, 11, 3)) == 1.0
    assert tracker.get_monthly_cost() == 3.0


def test_warn_threshold_warns_once_per_day(tmp_path, clock, caplog):
    tracker = tracker_at(tmp_path, clock, warn_threshold=0.8)
    with caplog.at_level(logging.WARNING, logger="coffee_maker.ai_providers.cost_tracker"):
        tracker.track_cost("a", 7.9, {})
        assert tracker.warnings == []
        tracker.track_cost("a", 0.2, {})
        tracker.track_cost("a", 0.5, {})
    assert [(w["period"], w["key"]) for w in tracker.warnings] == [("daily", "2026-11-03")]
    assert tracker.warnings[0]["spent"] == pytest.approx(8.1)
    assert len([r for r in caplog.records if "cost warning" in r.getMessage()]) == 1
    clock.now += 86400
    tracker.track_cost("a", 8.0, {})
    assert [w["key"] for w in tracker.warnings] == ["2026-11-03", "2026-11-04"]


# -- stats and CSV -----------------------------------------------------------------------


def test_stats_by_provider_and_model_over_date_ranges(tmp_path, clock):
    tracker = tracker_at(tmp_path, clock, daily_limit=None)
    usage = {"input_tokens": 100, "output_tokens": 10, "cache_read_tokens": 50}
    tracker.track_cost("claude", 0.02, usage, model="sonnet")
    tracker.track_cost("claude", 0.0, {}, model="sonnet", outcome="rate_limited")
    tracker.track_cost("claude", 0.01, usage, model="haiku")
    clock.now += 86400
    tracker.track_cost("openai", 0.04, usage, model="gpt")
    claude = tracker.stats()["claude"]
    assert (claude.requests, claude.failures) == (3, 1)
    assert (claude.input_tokens, claude.cache_read_tokens, claude.tokens) == (200, 100, 320)
    assert claude.cost == pytest.approx(0.03) and claude.average_cost == pytest.approx(0.01)
    by_model = tracker.stats(by="model")
    assert list(by_model) == ["claude/haiku", "claude/sonnet", "openai/gpt"]
    assert list(tracker.stats(since=date(2026, 11, 4))) == ["openai"]
    assert list(tracker.stats(until=date(2026, 11, 3))) == ["claude"]
    assert tracker.daily_totals(3) == [
        (date(2026, 11, 2), 0.0),
        (date(2026, 11, 3), pytest.approx(0.03)),
        (date(2026, 11, 4), pytest.approx(0.04)),
    ]
    by_day = tracker.stats(by="day")
    assert list(by_day) == ["2026-11-03", "2026-11-04"]
    assert by_day["2026-11-03"].requests == 3 and by_day["2026-11-04"].cost == pytest.approx(0.04)
    with pytest.raises(ValueError):
        tracker.stats(by="week")


def test_export_csv(tmp_path, clock):
    tracker = tracker_at(tmp_path, clock)
    tracker.track_cost("claude", 0.0123, {"input_tokens": 7}, model="sonnet", task_id="t1")
    tracker.reserve("claude", "sonnet", 1.0)
    clock.now += 86400
    tracker.track_cost("openai", 0.5, {"output_tokens": 3}, model="gpt", outcome="timeout")
    out = tmp_path / "costs.csv"
    assert tracker.export_csv(out) == 2
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == [
        "ts", "provider", "model", "task_id", "input_tokens", "output_tokens",
        "cache_read_tokens", "cache_write_tokens", "cost", "outcome",
    ]  # fmt: skip
    assert rows[0]["provider"] == "claude" and rows[0]["cost"] == "0.012300000"
    assert rows[0]["task_id"] == "t1" and rows[0]["input_tokens"] == "7"
    assert rows[1]["outcome"] == "timeout"
    assert tracker.export_csv(out, since=date(2026, 11, 4)) == 1
    assert [r["provider"] for r in csv.DictReader(out.open())] == ["openai"]


def test_default_home_is_coffee_maker_home(tmp_path, monkeypatch):
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(tmp_path / "home"))
    CostTracker().track_cost("a", 0.1, {})
    assert (tmp_path / "home" / "ledger.jsonl").is_file()
    assert os.stat(tmp_path / "home" / "ledger.jsonl").st_mode & 0o077 == 0


def test_stats_by_task_reads_the_calls_in_the_range(tmp_path, clock):
    tracker = tracker_at(tmp_path, clock)
    tracker.track_cost("a", 0.01, {"input_tokens": 10}, task_id="calc:PRIORITY 1:r1")
    tracker.track_cost("a", 0.02, {"output_tokens": 5}, task_id="calc:PRIORITY 1:r1")
    tracker.track_cost("b", 0.5, {}, task_id=None)
    clock.now += 86400
    tracker.track_cost("b", 0.25, {}, task_id="calc:PRIORITY 2:r2")
    by_task = tracker.stats(by="task")
    assert list(by_task) == ["(none)", "calc:PRIORITY 1:r1", "calc:PRIORITY 2:r2"]
    first = by_task["calc:PRIORITY 1:r1"]
    assert (first.requests, first.input_tokens, first.output_tokens) == (2, 10, 5)
    assert first.cost == pytest.approx(0.03)
    today = tracker.daily_totals(1)[0][0]
    assert list(tracker.stats(since=today, by="task")) == ["calc:PRIORITY 2:r2"]
    assert tracker.task_costs()["calc:PRIORITY 2:r2"] == pytest.approx(0.25)
