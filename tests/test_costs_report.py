"""``provider costs``: the report a person reads, rendered to a string."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from rich.console import Console

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.provider_config import CostControls
from coffee_maker.cli.costs_report import bar, render_costs

DAY = 86400.0
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def tracker(tmp_path) -> CostTracker:
    """Three days: $1 on Nov 1, nothing on Nov 2, $4 + a failed call on Nov 3 (today)."""
    now = [START]
    tracker = CostTracker(
        CostControls(daily_limit=10.0, monthly_limit=100.0, per_task_limit=2.5),
        home=tmp_path,
        clock=lambda: now[0],
    )
    usage = {"input_tokens": 1200, "output_tokens": 300, "cache_read_tokens": 4000}
    tracker.track_cost("claude", 1.0, usage, model="claude-sonnet-4-6")
    now[0] += 2 * DAY
    tracker.track_cost("claude", 3.0, usage, model="claude-sonnet-4-6")
    tracker.track_cost("openai", 1.0, {"input_tokens": 500}, model="gpt-5.4-mini")
    tracker.track_cost("openai", 0.0, {}, model="gpt-5.4-mini", outcome="rate_limited")
    return tracker


def render(tracker: CostTracker, **kwargs) -> str:
    out = io.StringIO()
    render_costs(tracker, tracker.controls, console=Console(file=out, width=100), **kwargs)
    return out.getvalue()


def test_spend_against_limits(tracker):
    text = render(tracker)
    assert "Today 2026-11-03" in text and "$4.00 of $10.00 (40%)" in text
    assert "This month 2026-11" in text and "$5.00 of $100.00 (5%)" in text
    assert "Per-task limit" in text and "$2.50" in text


def test_per_provider_table(tracker):
    lines = render(tracker).splitlines()
    claude = next(line for line in lines if line.startswith("│ claude"))
    cells = [c.strip() for c in claude.strip("│").split("│")]
    assert cells == ["claude", "2", "2,400", "600", "8,000", "0", "$4.00", "$2.00", "0"]
    openai = next(line for line in lines if line.startswith("│ openai"))
    cells = [c.strip() for c in openai.strip("│").split("│")]
    assert cells[1] == "2" and cells[6] == "$1.00" and cells[8] == "1"
    total = next(line for line in lines if line.startswith("│ total"))
    assert "$5.00" in total


def test_the_table_covers_only_the_days_asked_for(tracker):
    text = render(tracker, days=1)
    claude = next(line for line in text.splitlines() if line.startswith("│ claude"))
    assert "$3.00" in claude and "last 1 day (2026-11-03 to 2026-11-03)" in text


def test_a_bar_per_day_scaled_to_the_largest(tracker):
    lines = render(tracker, days=3).splitlines()
    days = {line.split()[0]: line for line in lines if line.strip().startswith("2026-11-0")}
    assert list(days) == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert days["2026-11-03"].count("█") == 40 and days["2026-11-03"].rstrip().endswith("$4.00")
    assert days["2026-11-01"].count("█") == 10 and "$1.00" in days["2026-11-01"]
    assert "█" not in days["2026-11-02"] and "$0.00" in days["2026-11-02"]


def test_csv_export_of_the_same_days(tracker, tmp_path):
    target = tmp_path / "costs.csv"
    text = render(tracker, days=1, csv_path=target)
    assert f"Wrote 3 calls to {target}" in text.replace("\n", "")
    rows = list(csv.DictReader(target.open()))
    assert [(r["provider"], r["outcome"]) for r in rows] == [
        ("claude", "ok"),
        ("openai", "ok"),
        ("openai", "rate_limited"),
    ]


def test_an_empty_ledger_reads_plainly(tmp_path):
    tracker = CostTracker(CostControls(daily_limit=None, monthly_limit=None), home=tmp_path)
    text = render(tracker)
    assert "(no calls)" in text and "$0.00 (no limit)" in text


def test_bar_uses_eighth_blocks():
    assert bar(0, 10) == "" and bar(10, 10, width=4) == "████"
    assert bar(1, 8, width=1) == "▏" and bar(5, 10, width=3) == "█▌"
