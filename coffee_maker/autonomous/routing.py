"""The routing decision: which tiers of providers a priority tries, from which one, and why.

:func:`decide` is pure: the priority's profile (``task_profile.py``), the config, the
budget's state and the repository's history in; a :class:`RouteDecision` out. The same
inputs always give the same decision, and the decision carries every rule that applied,
in words, so ``project-manager route explain``, ``--dry-run``, the run and its PR body
all say the same thing. The order (docs/ROUTING.md says it for users):

1. privacy: ``routing.privacy: local``, a ``**Privacy**: local`` line or a rule's
   ``local_only`` keep only ``local: true`` providers; a tier left empty is dropped, and
   with none left the priority is refused: never a silent fall back to a cloud provider;
2. the first rule that matches sets ``start_tier`` and ``max_tier``;
3. budget tiers: past a fraction of the daily or monthly limit, start no higher than its tier;
4. history: a tier below the top one is skipped when trying it costs more in expectation
   than it saves (:func:`worth_trying`).

Without ``routing.tiers`` (and nothing local-only) the decision is "not routed": the run
is exactly the plain fallback chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coffee_maker.ai_providers.provider_config import AppConfig
from coffee_maker.autonomous.task_profile import TaskProfile

#: Attempts of a tier (per repository and task type) before its history may skip it.
MIN_HISTORY = 3


@dataclass(frozen=True)
class Tier:
    index: int
    providers: tuple[str, ...]

    @property
    def label(self) -> str:
        """The tier's name in the state and in ``route stats``: its providers."""
        return "+".join(self.providers)


@dataclass(frozen=True)
class BudgetState:
    """How much of each limit is spent, as a fraction (None: no such limit)."""

    daily: float | None = None
    monthly: float | None = None

    @property
    def fraction(self) -> float:
        return max(self.daily or 0.0, self.monthly or 0.0)


@dataclass(frozen=True)
class TierRecord:
    """What history says of one tier for one task type: attempts, passes, money."""

    attempts: int = 0
    passed: int = 0
    cost: float = 0.0

    @property
    def success_rate(self) -> float:
        return self.passed / self.attempts if self.attempts else 0.0

    @property
    def mean_cost(self) -> float:
        return self.cost / self.attempts if self.attempts else 0.0


#: (task type, tier label) -> record, for one repository.
History = Mapping[tuple[str, str], TierRecord]


@dataclass(frozen=True)
class RouteDecision:
    profile: TaskProfile
    routed: bool  # False: the plain fallback chain (no routing configured)
    tiers: tuple[Tier, ...] = ()  # to try, in order; the first is where the run starts
    reasons: tuple[str, ...] = ()  # every rule that applied, in order, in words
    refused: str | None = None  # no tier may run it (privacy), and why
    local_only: bool = False
    skipped: tuple[str, ...] = field(default=())  # tier labels history skipped

    @property
    def start(self) -> Tier | None:
        return self.tiers[0] if self.tiers else None

    def lines(self) -> list[str]:
        """The explanation, for people."""
        p = self.profile
        lines = [
            f"type: {p.task_type} ({p.type_source})",
            f"complexity: {p.complexity} ({p.complexity_source})",
            f"privacy: {'local only' if self.local_only else 'cloud allowed'}",
        ]
        if not self.routed:
            lines.append("routing: none configured (routing.tiers); the fallback chain as is")
        elif self.refused:
            lines.append(f"refused: {self.refused}")
        else:
            plan = " -> ".join(f"tier {t.index} ({', '.join(t.providers)})" for t in self.tiers)
            lines.append(f"tiers to try: {plan}")
        lines += [f"because: {reason}" for reason in self.reasons]
        return lines

    def to_dict(self) -> dict[str, object]:
        return {
            "type": self.profile.task_type,
            "complexity": self.profile.complexity,
            "local_only": self.local_only,
            "routed": self.routed,
            "tiers": [{"index": t.index, "providers": list(t.providers)} for t in self.tiers],
            "reasons": list(self.reasons),
            "refused": self.refused,
            "skipped": list(self.skipped),
        }


def worth_trying(record: TierRecord | None, next_record: TierRecord | None) -> bool:
    """Whether a tier is worth its try before the next one, from history.

    Trying tier t first costs c_t, and with probability (1 - p_t) the next tier's c_next
    too: c_t + (1 - p_t) * c_next. Going straight to the next tier costs c_next. So the
    try pays when c_t < p_t * c_next: what it saves in expectation exceeds what it costs.
    Without ``MIN_HISTORY`` attempts of both, or with free attempts, it is tried.
    """
    if record is None or next_record is None:
        return True
    if record.attempts < MIN_HISTORY or next_record.attempts < MIN_HISTORY:
        return True
    return record.mean_cost <= record.success_rate * next_record.mean_cost


def decide(
    profile: TaskProfile,
    config: AppConfig,
    budget: BudgetState = BudgetState(),
    history: History | None = None,
    provider: str | None = None,
) -> RouteDecision:
    """The route for one priority. ``provider``: ``--provider``, one tier of that provider."""
    routing = config.routing
    reasons: list[str] = []
    local_only = profile.local_only or routing.privacy == "local"
    if profile.local_only:
        reasons.append("the priority says **Privacy**: local")
    elif routing.privacy == "local":
        reasons.append("routing.privacy is local for the repository")
    configured: list[tuple[str, ...]] = [tuple(t) for t in routing.tiers]
    rule_index, rule = next(
        (
            (i, r)
            for i, r in enumerate(routing.rules)
            if r.matches(profile.task_type, profile.complexity)
        ),
        (None, None),
    )
    if rule is not None and rule.local_only and not local_only:
        local_only = True
        reasons.append(f"routing.rules[{rule_index}] {rule.describe()} keeps it local")
    if not configured and not local_only:  # no routing: the chain as it is, --provider first
        return RouteDecision(profile, routed=False, reasons=tuple(reasons))
    if provider:
        configured = [(provider,)]
        reasons.append(f"--provider {provider} replaces the tiers")
    if not configured:  # local-only without tiers: one tier of every local provider
        configured = [tuple(config.provider_order())]
    tiers = [Tier(i, names) for i, names in enumerate(configured)]
    if local_only:
        tiers = _local_tiers(tiers, config, reasons)
        if not tiers:
            why = "no provider marked `local: true` is in its tiers, and a cloud one may not see it"
            return RouteDecision(profile, True, (), tuple(reasons), why, local_only)
    start, top = tiers[0].index, tiers[-1].index
    if rule is not None and not provider:
        if rule.start_tier is not None:
            start = rule.start_tier
        if rule.max_tier is not None:
            top = rule.max_tier
        reasons.append(f"routing.rules[{rule_index}] {rule.describe()} matches")
    if not provider:
        start = _budget_cap(start, budget, routing.budget_tiers, reasons)
    chosen = (
        [t for t in tiers if start <= t.index <= top]
        or [t for t in tiers if t.index <= top][-1:]
        or tiers[:1]
    )
    if chosen[0].index != start:
        reasons.append(f"tier {start} has no allowed provider; starting at tier {chosen[0].index}")
    chosen, skipped = _by_history(chosen, profile.task_type, history or {}, reasons)
    if not reasons:
        reasons.append("no rule applies: from the cheapest tier up")
    return RouteDecision(profile, True, tuple(chosen), tuple(reasons), None, local_only, skipped)


def _local_tiers(tiers: list[Tier], config: AppConfig, reasons: list[str]) -> list[Tier]:
    kept = []
    for tier in tiers:
        local = tuple(n for n in tier.providers if config.providers[n].local)
        dropped = [n for n in tier.providers if n not in local]
        if dropped:
            reasons.append(f"tier {tier.index}: {', '.join(dropped)} not local, left out")
        if local:
            kept.append(Tier(tier.index, local))
    return kept


def _budget_cap(
    start: int, budget: BudgetState, budget_tiers: Mapping[float, int], reasons: list[str]
) -> int:
    spent = budget.fraction
    reached = [(f, tier) for f, tier in budget_tiers.items() if spent >= f]
    if not reached:
        return start
    fraction, cap = min(reached, key=lambda item: item[1])
    if cap < start:
        reasons.append(
            f"routing.budget_tiers: {spent:.0%} of a cost limit is spent (>= {fraction:.0%}), "
            f"so it starts no higher than tier {cap}"
        )
        return cap
    return start


def _by_history(
    tiers: Sequence[Tier], task_type: str, history: History, reasons: list[str]
) -> tuple[list[Tier], tuple[str, ...]]:
    """Leave out the tiers not worth trying (never the last one)."""
    kept, skipped = [], []
    for i, tier in enumerate(tiers):
        later = tiers[i + 1] if i + 1 < len(tiers) else None
        record = history.get((task_type, tier.label))
        next_record = history.get((task_type, later.label)) if later else None
        if later is None or worth_trying(record, next_record):
            kept.append(tier)
            continue
        assert record is not None and next_record is not None
        skipped.append(tier.label)
        reasons.append(
            f"history: tier {tier.index} passed {record.passed} of {record.attempts} {task_type} "
            f"tasks at ${record.mean_cost:.4f} each; tier {later.index} costs "
            f"${next_record.mean_cost:.4f}, so trying it first is expected to cost more "
            "than it saves: skipped"
        )
    return kept, tuple(skipped)
