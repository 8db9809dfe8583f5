"""``project-manager provider costs``: what was spent, against what limits, on what.

Read at a glance in a terminal: today's and this month's spend with the share of each
limit used, a table for the last N days (per provider, model, priority or day: ``--by``),
and a bar per day. Days are UTC days, as in the ledger.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

from rich.console import Console
from rich.table import Table
from rich.text import Text

from coffee_maker.ai_providers.cost_tracker import CostTracker, money
from coffee_maker.ai_providers.ledger import UsageStats
from coffee_maker.ai_providers.provider_config import CostControls

BAR_WIDTH = 40
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: float, largest: float, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of unicode blocks, ``width`` cells for ``largest``."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, rest = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def _against(spent: float, limit: float | None, warn_at: float) -> Text:
    if limit is None:
        return Text(f"{money(spent)} (no limit)")
    share = spent / limit if limit else 1.0
    style = "red" if share >= 1 else "yellow" if share >= warn_at else "green"
    return Text(f"{money(spent)} of {money(limit)} ({share:.0%})", style=style)


def _spend_table(tracker: CostTracker, controls: CostControls) -> Table:
    today = tracker.daily_totals(1)[0][0]
    table = Table(title="Spend (UTC)", show_header=False, title_justify="left", box=None)
    table.add_column(style="bold")
    table.add_column()
    warn = controls.warn_threshold
    table.add_row(f"Today {today}", _against(tracker.get_daily_cost(), controls.daily_limit, warn))
    table.add_row(
        f"This month {today:%Y-%m}",
        _against(tracker.get_monthly_cost(), controls.monthly_limit, warn),
    )
    per_task = money(controls.per_task_limit) if controls.per_task_limit is not None else "none"
    table.add_row("Per-task limit", per_task)
    table.add_row("Held by calls in flight", money(tracker.get_reserved()))
    return table


def _usage_table(stats: dict[str, UsageStats], title: str, by: str = "provider") -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(by)
    for name in ("requests", "input", "output", "cache read", "cache write", "cost", "avg cost"):
        table.add_column(name, justify="right")
    table.add_column("failures", justify="right")
    total = UsageStats()
    for name, stat in stats.items():
        total.add(stat)
        table.add_row(name, *_stat_cells(stat))
    if len(stats) > 1:
        table.add_section()
        table.add_row("total", *_stat_cells(total), style="bold")
    if not stats:
        table.add_row("(no calls)", *[""] * 8)
    return table


def _stat_cells(stat: UsageStats) -> list[str]:
    return [
        f"{stat.requests:,}",
        f"{stat.input_tokens:,}",
        f"{stat.output_tokens:,}",
        f"{stat.cache_read_tokens:,}",
        f"{stat.cache_write_tokens:,}",
        money(stat.cost),
        money(stat.average_cost),
        f"{stat.failures:,}",
    ]


def _daily_table(tracker: CostTracker, days: int) -> Table:
    totals = tracker.daily_totals(days)
    largest = max((cost for _, cost in totals), default=0.0)
    table = Table(title="Per day", title_justify="left", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(style="cyan", no_wrap=True)
    table.add_column(justify="right")
    for day, cost in totals:
        table.add_row(f"{day} {day:%a}", bar(cost, largest), money(cost))
    return table


def grouped_stats(tracker: CostTracker, since: date, until: date, by: str) -> dict[str, UsageStats]:
    """The calls from ``since`` to ``until`` grouped ``by`` provider, model, priority or day.

    A priority is ``<repository>: <priority id>``, read from the task id its runs gave
    their calls; calls of no run (a probe, the Python API) are ``(not a priority)``.
    """
    if by != "priority":
        return tracker.stats(since=since, until=until, by=by)
    from coffee_maker.autonomous.task_ids import priority_of

    result: dict[str, UsageStats] = {}
    for task, stat in tracker.stats(since=since, until=until, by="task").items():
        owner = priority_of(task)
        key = f"{owner[0]}: {owner[1]}" if owner else "(not a priority)"
        result.setdefault(key, UsageStats()).add(stat)
    return dict(sorted(result.items()))


def render_costs(
    tracker: CostTracker,
    cost_controls: CostControls,
    days: int = 7,
    csv_path: str | os.PathLike[str] | None = None,
    console: Console | None = None,
    by: str = "provider",
) -> None:
    """Print the cost report for the last ``days`` days; with ``csv_path``, export those calls."""
    if days < 1:
        raise ValueError(f"--days {days}: must be at least 1")
    console = console or Console()
    today = tracker.daily_totals(1)[0][0]
    since = today - timedelta(days=days - 1)
    console.print(_spend_table(tracker, cost_controls))
    console.print()
    span = f"last {days} day{'s' if days > 1 else ''} ({since} to {today})"
    title = f"Per {by}, {span}" if by != "provider" else f"Providers, {span}"
    console.print(_usage_table(grouped_stats(tracker, since, today, by), title, by))
    console.print()
    console.print(_daily_table(tracker, days))
    if csv_path is not None:
        rows = tracker.export_csv(csv_path, since=since, until=today)
        console.print()
        console.print(f"Wrote {rows:,} call{'s' if rows != 1 else ''} to {csv_path}")


def _stat_data(stat: UsageStats) -> dict[str, float | int]:
    return {
        "requests": stat.requests,
        "failures": stat.failures,
        "input_tokens": stat.input_tokens,
        "output_tokens": stat.output_tokens,
        "cache_read_tokens": stat.cache_read_tokens,
        "cache_write_tokens": stat.cache_write_tokens,
        "cost": stat.cost,
    }


def cost_data(
    tracker: CostTracker, cost_controls: CostControls, days: int = 7, by: str = "provider"
) -> dict[str, object]:
    """The report as plain data (the MCP tool ``costs`` and resource): the same numbers
    the tables show, grouped ``by`` provider, model, priority or day."""
    today = tracker.daily_totals(1)[0][0]
    since = today - timedelta(days=days - 1)
    groups = grouped_stats(tracker, since, today, by)
    return {
        "since": since.isoformat(),
        "until": today.isoformat(),
        "by": by,
        "spend": {
            "today": tracker.get_daily_cost(),
            "daily_limit": cost_controls.daily_limit,
            "month": tracker.get_monthly_cost(),
            "monthly_limit": cost_controls.monthly_limit,
            "per_task_limit": cost_controls.per_task_limit,
            "reserved": tracker.get_reserved(),
        },
        "groups": {name: _stat_data(stat) for name, stat in groups.items()},
        "per_day": [{"day": d.isoformat(), "cost": c} for d, c in tracker.daily_totals(days)],
    }
