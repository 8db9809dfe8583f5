"""``code-developer status``: what the daemon is doing, read from what it writes.

Sources: the repository's state (``.git/coffee-maker/state.json``), its lock (is a daemon
alive?), the roadmap as the daemon reads it (the base branch as last fetched), and the
shared cost ledger. Reading changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.cli.common import EXIT_OK, load_app_config, make_console

if TYPE_CHECKING:
    from coffee_maker.autonomous.state import RepoState


def collect_status(repo: Path, config_path: str | None) -> dict[str, Any]:
    """Everything ``status`` shows, as plain data (``--json`` prints exactly this)."""
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.autonomous.repo_lock import RepoLock
    from coffee_maker.autonomous.state import RepoState

    config = load_app_config(config_path, str(repo))
    state = RepoState.load(repo)
    data = state.to_dict()
    pid = RepoLock.holder(repo)
    current = data.get("current")
    if current and current.get("started_at"):
        started = datetime.fromisoformat(current["started_at"])
        current["elapsed_seconds"] = int((datetime.now(UTC) - started).total_seconds())
    tracker = CostTracker(config.cost_controls)
    limits = config.cost_controls
    spent = _spent_per_priority(repo, tracker.task_costs())
    priorities, roadmap_error, roadmap_warnings = _priorities(repo, config, state, spent)
    return {
        "repo": str(repo),
        "running": pid is not None,
        "pid": pid,
        "daemon": data.get("daemon") if pid is not None else None,
        "current": current,
        "spend": {
            "today": round(tracker.get_daily_cost(), 6),
            "daily_limit": limits.daily_limit,
            "month": round(tracker.get_monthly_cost(), 6),
            "monthly_limit": limits.monthly_limit,
            "per_task_limit": limits.per_task_limit,
        },
        "priorities": priorities,
        "pulls": _pulls(state),
        "roadmap_error": roadmap_error,
        "roadmap_warnings": roadmap_warnings,
    }


def _pulls(state: RepoState) -> list[dict[str, Any]]:
    """The PRs it opened, open ones first: review and CI state, what it did last."""
    keys = ("number", "priority", "url", "state", "review_state", "unresolved", "ci_state")
    rows = []
    for record in state.pulls().values():
        row = {key: record.get(key) for key in keys}
        row |= {k: record.get(k) for k in ("followups", "ci_repairs", "last_followup", "finished")}
        rows.append(row)
    return sorted(rows, key=lambda r: (r["state"] != "open", -int(r["number"] or 0)))


def _spent_per_priority(repo: Path, costs: dict[str, float]) -> dict[str, float]:
    """USD spent on each priority of ``repo``, every run and every call (the ledger's
    task totals: interrupted and failed runs count too)."""
    from coffee_maker.autonomous.task_ids import priority_of

    spent: dict[str, float] = {}
    for task, cost in costs.items():
        owner = priority_of(task)
        if owner is not None and owner[0] == repo.name:
            spent[owner[1]] = spent.get(owner[1], 0.0) + cost
    return spent


def _priorities(
    repo: Path, config: Any, state: RepoState, spent: dict[str, float]
) -> tuple[list[dict[str, Any]], str | None, list[str]]:
    """Each roadmap priority as the daemon sees it (``priority_view.py``), as plain data;
    then what stopped the roadmap from being read, and the parser's warnings."""
    from coffee_maker.autonomous.cascade import last_tiers
    from coffee_maker.autonomous.git_ops import GitError
    from coffee_maker.autonomous.planning import load_base_roadmap
    from coffee_maker.autonomous.priority_view import NoteKind, priority_views
    from coffee_maker.autonomous.roadmap import RoadmapError

    try:
        roadmap = load_base_roadmap(repo, config)
    except RoadmapError as exc:
        return [], "; ".join(exc.problems), []
    except GitError as exc:
        return [], str(exc), []
    rows = []
    for view in priority_views(roadmap, state, spent):
        row = view.to_dict()
        row["next"] = row.pop("is_next")
        row["current"] = view.note is NoteKind.RUNNING
        row["tiers"] = last_tiers(state.record(view.id))
        rows.append(row)
    return rows, None, roadmap.warnings


def _money(value: float, limit: float | None) -> str:
    from coffee_maker.ai_providers.cost_tracker import money

    if not limit:
        return f"{money(value)} (no limit)"
    return f"{money(value)} of {money(limit)} ({value / limit:.0%})"


def _note(p: dict[str, Any]) -> str:
    """The note's words here; which note a priority gets is ``priority_view``'s to say.
    ``p`` has its free text escaped for rich already."""
    kind = p["note"]
    if kind == "running":
        return "[bold green]working on it now[/]"
    if kind == "blocked":
        return f"[red]blocked: {p['note_text'] or 'too many failures'}[/]"
    if kind == "awaiting_review":
        return p["note_text"]
    if kind == "next":
        return "[bold]next[/]"
    if kind == "held":
        return "not picked on its own: " + p["note_text"]
    if kind == "waiting":
        return "waits for " + p["note_text"]
    return (p["last_error"] or "")[:120]


def render(status: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from coffee_maker.ai_providers.cost_tracker import money

    console = make_console()
    if status["running"]:
        console.print(f"[bold green]running[/] (pid {status['pid']}) for {status['repo']}")
    else:
        console.print(f"[bold yellow]not running[/] for {status['repo']}")
    current = status.get("current")
    if current and not status["running"]:
        console.print(
            f"interrupted: {current.get('priority')} at step {current.get('step')} (its process "
            "is gone; the next start records it and cleans up)"
        )
    elif current:
        elapsed = current.get("elapsed_seconds")
        took = f", {elapsed // 60}m{elapsed % 60:02d}s" if elapsed is not None else ""
        console.print(
            f"now: {current.get('priority')}: {current.get('step')} "
            f"(provider {current.get('provider') or 'not chosen yet'}{took})"
        )
    daemon = status.get("daemon") or {}
    if daemon.get("next_run_at"):
        console.print(f"next run: {daemon['next_run_at']}")
    spend = status["spend"]
    console.print(
        f"spend today: {_money(spend['today'], spend['daily_limit'])}; this month: "
        f"{_money(spend['month'], spend['monthly_limit'])}"
    )
    if status.get("roadmap_error"):
        console.print(f"[red]roadmap: {escape(status['roadmap_error'])}[/]")
    for warning in status.get("roadmap_warnings") or []:
        console.print(f"[yellow]roadmap warning: {escape(warning)}[/]")
    table = Table(title="priorities")
    for column in ("id", "status", "attempts", "cost", "last outcome", "note"):
        table.add_column(column, justify="right" if column == "cost" else "left")
    for p in status["priorities"]:
        cost = money(p["cost"]) if p.get("cost") else ""
        attempts = str(p["attempts"])
        row = (p.get("ref") or p["id"], p["status"], attempts, cost, p["last_outcome"] or "")
        table.add_row(*map(escape, row), _note({**p, **_escaped(p)}))
    console.print(table)
    for p in status["priorities"]:
        if p.get("tiers"):
            tries = "; ".join(p["tiers"])
            console.print(escape(f"{p.get('ref') or p['id']} routing: {tries}"), soft_wrap=True)
    if status.get("pulls"):
        console.print(_pulls_table(status["pulls"]))


def _pulls_table(pulls: list[dict[str, Any]]) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from coffee_maker.ai_providers.cost_tracker import money

    table = Table(title="pull requests")
    for column in ("PR", "priority", "state", "review", "unresolved", "CI", "last follow-up"):
        table.add_column(column)
    for pull in pulls:
        last = pull.get("last_followup") or {}
        said = ""
        if last:
            what = "CI repair" if last.get("kind") == "ci" else "review"
            when = str(last.get("at") or "")[:16].replace("T", " ")
            said = f"{when}: {what}, {last.get('verdict', '')}"
            said += f", {money(last['cost'])}" if last.get("cost") else ""
        state = pull["state"] if pull["state"] == "open" else f"{pull['state']}"
        cells = (
            f"#{pull['number']}",
            str(pull.get("priority") or ""),
            state,
            str(pull.get("review_state") or "not looked at yet"),
            str(pull.get("unresolved") or 0),
            str(pull.get("ci_state") or ""),
            said,
        )
        table.add_row(*map(escape, cells))
    return table


def _escaped(p: dict[str, Any]) -> dict[str, Any]:
    from rich.markup import escape

    keys = ("note_text", "last_error")
    return {k: escape(p[k]) if isinstance(p[k], str) else p[k] for k in keys}


def show_status(repo: Path, config_path: str | None, as_json: bool = False) -> int:
    from coffee_maker.secrets import redact

    repo = repo.expanduser().resolve()
    status = redact(collect_status(repo, config_path))
    if as_json:
        print(json.dumps(status, indent=2, default=str))
    else:
        render(status)
    return EXIT_OK
