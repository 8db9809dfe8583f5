"""``project-manager route explain|stats``: what routing decides for a priority, and why;
what each tier has achieved in this repository.

Both read what the daemon reads (the base branch's roadmap, the repository's state, the
ledger) through the daemon's own functions (``routing_history.route_for``), so an
explanation is the decision the next run makes, unless the state or the spend changes.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from coffee_maker.cli.common import EXIT_OK, EXIT_USAGE, error_line, load_app_config
from coffee_maker.errors import UserError


class RouteError(UserError):
    """The priority named does not exist, or no priority is ready."""


def route_of(config: Any, repo: Path, ref: str | None) -> tuple[Any, Any]:
    """``(priority, decision)``: what the next run decides for ``ref`` (or for the next
    ready priority), through the daemon's own ``route_for``; RouteError when none."""
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.autonomous.roadmap import PriorityLookupError
    from coffee_maker.autonomous.routing_history import route_for
    from coffee_maker.autonomous.state import RepoState

    plan = _roadmap(config, repo)
    state = RepoState.load(repo)
    if ref:
        try:
            priority = plan.find(ref)
        except (PriorityLookupError, ValueError) as exc:
            raise RouteError(f"route explain {ref}: {exc}") from None
    else:
        priority = plan.next_planned(skip=lambda p: state.is_skipped(p.id))
        if priority is None:
            raise RouteError("route explain: no planned priority is ready; name one by its ID")
    return priority, route_for(config, state, CostTracker(config.cost_controls), priority)


def explain(args: argparse.Namespace) -> int:
    config = load_app_config(args.config, args.repo)
    priority, decision = route_of(config, Path(args.repo), args.id)
    if args.json:
        import json

        print(json.dumps({"priority": priority.id, **decision.to_dict()}, indent=2))
        return EXIT_OK
    from coffee_maker.autonomous.public_text import strip_terminal

    print(strip_terminal(f"{priority.id}: {priority.title}"))
    for line in decision.lines():
        print(strip_terminal(f"  {line}"))
    return EXIT_OK


def stats(args: argparse.Namespace) -> int:
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.autonomous.routing import worth_trying
    from coffee_maker.autonomous.routing_history import tier_history, tier_tries
    from coffee_maker.autonomous.state import RepoState
    from coffee_maker.autonomous.task_ids import priority_of

    config = load_app_config(args.config, args.repo)
    repo = Path(args.repo).resolve()
    state = RepoState.load(repo)
    history = tier_history(state)
    if not history:
        print("no routed runs yet in this repository (routing.tiers; docs/ROUTING.md)")
        return EXIT_OK
    labels = ["+".join(t) for t in config.routing.tiers]
    print(f"{'type':<9} {'tier':<24} {'tries':>5} {'passed':>6} {'rate':>5} {'cost':>10} "
          f"{'per try':>9}  next run")  # fmt: skip
    for (task_type, label), record in sorted(history.items(), key=_order(labels)):
        later = labels[labels.index(label) + 1] if label in labels[:-1] else None
        verdict = _next_run(label, labels, worth_trying(record, history.get((task_type, later))))
        print(f"{task_type:<9} {label[:24]:<24} {record.attempts:>5} {record.passed:>6} "
              f"{record.success_rate:>5.0%} {_usd(record.cost):>10} "
              f"{_usd(record.mean_cost):>9}  {verdict}")  # fmt: skip
    routed = sum(float(t.get("cost") or 0) for t in tier_tries(state))
    ledger = sum(
        cost
        for task, cost in CostTracker(config.cost_controls).task_costs().items()
        if (found := priority_of(task)) and found[0] == repo.name
    )
    print(
        f"routed tries cost {_usd(routed)}; "
        f"the ledger has {_usd(ledger)} for this repository's runs"
    )
    return EXIT_OK


def _next_run(label: str, labels: list[str], worth: bool) -> str:
    if label not in labels:
        return "no longer a tier"
    if label == labels[-1]:
        return "top tier: always tried"
    return "tried" if worth else "skipped: expected to cost more than it saves"


def _order(labels: list[str]) -> Any:
    def key(item: tuple[tuple[str, str], Any]) -> tuple[str, int, str]:
        (task_type, label), _ = item
        return (task_type, labels.index(label) if label in labels else len(labels), label)

    return key


def _usd(value: float) -> str:
    return f"${value:.4f}"


def _roadmap(config: Any, repo: Path) -> Any:
    from coffee_maker.autonomous.git_ops import GitError
    from coffee_maker.autonomous.planning import load_base_roadmap
    from coffee_maker.autonomous.roadmap import Roadmap, RoadmapError

    try:
        try:
            return load_base_roadmap(repo, config)
        except GitError:
            return Roadmap.load(repo / config.daemon.roadmap)
    except RoadmapError as exc:
        _say(exc.problems)
        raise SystemExit(EXIT_USAGE) from None


def _say(lines: Iterable[str]) -> None:
    for line in lines:
        error_line(f"project-manager: {line}")
