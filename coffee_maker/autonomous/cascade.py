"""The verified cascade: try a priority on the lowest tier its route allows, escalate on failure.

An iteration with a routed priority (``routing.py``) runs it tier by tier. Each tier gets
a fresh worktree and a fallback chain restricted to that tier's providers (and to
``local: true`` ones when the route is local-only: a cloud provider is never called, not
even as a fallback). When the verdict after the repair rounds is not *passed*, the next
tier starts over from the base, told what was learnt: the failing tests, the end of the
test output and the previous diff as reference. It stops at the first pass, the top tier,
a change nothing could verify, or the per-task budget (every tier charges one task id, so
``cost_controls.per_task_limit`` bounds the whole cascade). The tries, with their cost and
verdict, go into the state's history entry, the PR body and ``code-developer status``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coffee_maker.agent import AgentResult, Status
from coffee_maker.ai_providers.base import BaseAIProvider
from coffee_maker.ai_providers.cost_tracker import CostTracker, money
from coffee_maker.ai_providers.fallback_strategy import FallbackStrategy
from coffee_maker.autonomous import git_ops
from coffee_maker.autonomous.git_command import GitError, git_text
from coffee_maker.autonomous.routing import RouteDecision, Tier
from coffee_maker.logging import get_logger
from coffee_maker.secrets import redact_text

log = get_logger(__name__)

TEST_TAIL_LIMIT = 3000  # characters of the failed tier's test output the next tier reads
DIFF_LIMIT = 8000  # characters of the failed tier's diff


@dataclass
class TierTry:
    tier: int
    label: str
    cost: float
    status: str
    verdict: str
    passed: bool

    def line(self) -> str:
        return tier_line(self.__dict__)


def tier_line(attempt: dict[str, Any]) -> str:
    """One tier's try in words, from a :class:`TierTry` or the state's copy of one."""
    cost = attempt.get("cost")
    spent = money(float(cost)) if isinstance(cost, int | float) else "cost unknown"
    return f"tier {attempt.get('tier')} ({attempt.get('label')}): {attempt.get('verdict')}, {spent}"


def last_tiers(record: dict[str, Any]) -> list[str]:
    """The tiers the latest routed attempt of a priority tried (``code-developer status``)."""
    for entry in reversed(record.get("history") or []):
        routing = entry.get("routing") if isinstance(entry, dict) else None
        if isinstance(routing, dict) and isinstance(routing.get("tiers"), list):
            return [tier_line(t) for t in routing["tiers"] if isinstance(t, dict)]
    return []


@dataclass
class Cascade:
    """One priority's tiers, tried one after another. Without a routed decision it is a
    no-op: the plain fallback chain, the task as it is, no tiers recorded."""

    decision: RouteDecision | None = None
    per_task_limit: float | None = None
    position: int = 0
    tries: list[TierTry] = field(default_factory=list)
    task_id: str | None = None
    lessons: str = ""
    escalating: bool = False
    stopped: str | None = None  # why it did not go on (budget), for the record

    @property
    def routed(self) -> bool:
        return self.decision is not None and self.decision.routed and bool(self.decision.tiers)

    @property
    def local_only(self) -> bool:
        return self.decision is not None and self.decision.local_only

    @property
    def escalated(self) -> bool:
        return len(self.tries) > 1

    @property
    def tier(self) -> Tier:
        assert self.decision is not None
        return self.decision.tiers[self.position]

    def claim(self, task_id: str) -> str:
        """Every tier charges the first tier's task id: one per-task budget for all."""
        self.task_id = self.task_id or task_id
        return self.task_id

    def strategy(self, base: FallbackStrategy) -> FallbackStrategy:
        """``base`` limited to this tier's providers, in the tier's order."""
        if not self.routed:
            return base
        return base.restricted(self.allows(self.tier), order=self.tier.providers)

    def allows(self, tier: Tier) -> Callable[[BaseAIProvider], bool]:
        names, local_only = frozenset(tier.providers), self.local_only
        return lambda p: p.name in names and (not local_only or bool(p.settings.local))

    def task(self, text: str) -> str:
        return text + self.lessons

    def after(self, result: AgentResult, worktree: git_ops.Worktree, tracker: CostTracker) -> bool:
        """Record this tier's try; True when the next tier should start over."""
        self.escalating = False
        if not self.routed:
            return False
        assert self.decision is not None
        verdict = _verdict(result)
        passed = result.status is Status.SUCCESS
        tier = self.tier
        self.tries.append(TierTry(tier.index, tier.label, round(result.cost, 6),
                                  result.status.value, verdict, passed))  # fmt: skip
        if passed or self.position + 1 >= len(self.decision.tiers):
            return False
        if result.status is Status.UNVERIFIED:
            return False  # nothing can tell a better tier's work from this one's
        if result.status is Status.LIMIT_REACHED and result.limit in ("budget", "per_task_limit"):
            self.stopped = f"the budget stopped it ({result.limit})"
            return False
        spent = tracker.get_task_cost(self.task_id) if self.task_id else 0.0
        if self.per_task_limit is not None and spent >= self.per_task_limit:
            self.stopped = f"cost_controls.per_task_limit {money(self.per_task_limit)} spent"
            return False
        self.lessons = _lessons(tier, result, verdict, worktree)
        self.position += 1
        self.escalating = True
        log.info("escalating", from_tier=tier.index, to_tier=self.tier.index, verdict=verdict)
        return True

    def details(self) -> dict[str, Any]:
        """What the state's history entry keeps (``route stats`` reads it back)."""
        if self.decision is None or not self.tries:
            return {}
        return {
            "routing": {
                "type": self.decision.profile.task_type,
                "complexity": self.decision.profile.complexity,
                "local_only": self.decision.local_only,
                "planned": [t.index for t in self.decision.tiers],  # what route explain said
                "reasons": list(self.decision.reasons),
                "tiers": [t.__dict__ for t in self.tries],
                **({"stopped": self.stopped} if self.stopped else {}),
            }
        }

    def lines(self) -> list[str]:
        """The tries in words, for the PR body and the result line."""
        lines = [t.line() for t in self.tries]
        if self.stopped:
            lines.append(f"stopped: {self.stopped}")
        return lines

    def total_cost(self) -> float:
        return sum(t.cost for t in self.tries)


def local_chain(base: FallbackStrategy) -> FallbackStrategy:
    """``base`` limited to ``local: true`` providers: for work on a private priority that is
    not a tier of its cascade (a follow-up on its pull request)."""
    return base.restricted(lambda p: bool(p.settings.local))


def _verdict(result: AgentResult) -> str:
    if result.judgement is not None:
        return result.judgement.verdict.value
    return {
        Status.NO_CHANGES: "no changes",
        Status.LIMIT_REACHED: f"limit reached ({result.limit})",
        Status.PROVIDER_FAILURE: "no provider answered",
    }.get(result.status, result.status.value)


def _lessons(tier: Tier, result: AgentResult, verdict: str, worktree: git_ops.Worktree) -> str:
    """What the next tier is told of this one's attempt (bounded; the model's own words)."""
    parts = [
        "\n\nAn earlier attempt at this priority, by a cheaper model (routing tier "
        f"{tier.index}), did not pass verification: {verdict}."
    ]
    failures = result.judgement.new_failures if result.judgement is not None else ()
    if failures:
        parts.append("Tests it left failing: " + ", ".join(failures[:20]))
    tail = result.test_output_tail.strip()
    if tail:
        parts.append("The end of its test output:\n~~~text\n" + tail[-TEST_TAIL_LIMIT:] + "\n~~~")
    diff = worktree_diff(worktree)
    if diff:
        cut = "\n[... diff cut ...]" if len(diff) > DIFF_LIMIT else ""
        parts.append(
            "Its change, for reference only (your worktree starts again from the base; none "
            "of this is applied):\n~~~diff\n" + diff[:DIFF_LIMIT] + cut + "\n~~~"
        )
    parts.append("Do better than it: find what it got wrong, and make the tests pass.")
    return redact_text("\n\n".join(parts) + "\n")


def worktree_diff(worktree: git_ops.Worktree) -> str:
    """The worktree's change against the base, new files included (its index is ours:
    the worktree is removed right after)."""
    try:
        spec = worktree.pathspec()
        git_text(worktree.path, "add", "--intent-to-add", "--all", *spec)
        return git_text(worktree.path, "diff", "--no-color", worktree.base_sha, *spec)
    except GitError as exc:
        log.warning("could not read the worktree's diff", error=str(exc))
        return ""
