"""What routing reads from the world: the repository's history of tiers, and the budget.

:func:`route_for` is the one way a priority's route is computed, by the run, by
``--dry-run`` and by ``project-manager route explain`` alike, so all three say the same
thing: the pure :func:`coffee_maker.autonomous.routing.decide` fed with this repository's
state (each cascade's tier tries, in the history entries of its priorities) and the
ledger's spend against ``cost_controls``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.provider_config import AppConfig
from coffee_maker.autonomous.roadmap import Priority
from coffee_maker.autonomous.routing import BudgetState, RouteDecision, TierRecord, decide
from coffee_maker.autonomous.state import RepoState
from coffee_maker.autonomous.task_profile import profile


def tier_tries(state: RepoState) -> Iterator[dict[str, Any]]:
    """Every tier try the state remembers: ``{type, tier, label, cost, passed, verdict}``."""
    for record in state.to_dict().get("priorities", {}).values():
        for entry in record.get("history", []):
            routing = entry.get("routing") if isinstance(entry, dict) else None
            if not isinstance(routing, dict):
                continue
            for attempt in routing.get("tiers", []):
                if isinstance(attempt, dict) and isinstance(attempt.get("label"), str):
                    yield {"type": str(routing.get("type", "feature")), **attempt}


def tier_history(state: RepoState) -> dict[tuple[str, str], TierRecord]:
    """(task type, tier label) -> attempts, passes and cost, for this repository; a try
    whose providers did not answer is not the tier's failure and is left out."""
    found: dict[tuple[str, str], TierRecord] = {}
    for attempt in tier_tries(state):
        if attempt.get("status") == "provider_failure":
            continue  # its providers did not answer: the tier's models never tried
        key = (attempt["type"], attempt["label"])
        old = found.get(key, TierRecord())
        cost = attempt.get("cost")
        found[key] = TierRecord(
            old.attempts + 1,
            old.passed + (1 if attempt.get("passed") is True else 0),
            old.cost + (float(cost) if isinstance(cost, int | float) else 0.0),
        )
    return found


def budget_state(tracker: CostTracker, config: AppConfig) -> BudgetState:
    limits = config.cost_controls

    def fraction(limit: float | None, spent: float) -> float | None:
        if limit is None:
            return None
        return 1.0 if limit <= 0 else spent / limit

    return BudgetState(
        fraction(limits.daily_limit, tracker.get_daily_cost()),
        fraction(limits.monthly_limit, tracker.get_monthly_cost()),
    )


def route_for(
    config: AppConfig,
    state: RepoState,
    tracker: CostTracker,
    priority: Priority,
    provider: str | None = None,
) -> RouteDecision:
    """The route of ``priority`` now (``provider``: ``--provider``)."""
    history = tier_history(state) if config.routing.enabled else {}
    return decide(profile(priority), config, budget_state(tracker, config), history, provider)


def is_private(
    config: AppConfig, state: RepoState, priority_id: str, priority: Priority | None
) -> bool:
    """Whether only ``local: true`` providers may see this priority's code: what its route
    says, or, when the roadmap no longer has it, what its last routed attempt recorded."""
    if config.routing.privacy == "local":
        return True
    if priority is not None:  # its line, or a routing.rules entry with local_only
        return decide(profile(priority), config).local_only
    for entry in reversed(state.record(priority_id).get("history") or []):
        routing = entry.get("routing") if isinstance(entry, dict) else None
        if isinstance(routing, dict):
            return routing.get("local_only") is not False
    return False
