"""The ``routing:`` section of the config: tiers of providers, rules, privacy, budget tiers.

Only the schema and its cross-checks live here (a tier naming an unknown provider, a rule
pointing past the last tier, privacy ``local`` with no ``local: true`` provider), so every
mistake is one line naming the key, found when the config is read: before any money is
spent. What the policy *decides* for a priority is ``coffee_maker/autonomous/routing.py``;
users read docs/ROUTING.md. No ``routing:`` (no tiers) is the plain fallback chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coffee_maker.ai_providers.config_env import ConfigError

if TYPE_CHECKING:
    from coffee_maker.ai_providers.provider_config import AppConfig

TaskType = Literal["docs", "tests", "refactor", "feature", "bugfix"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RoutingRule(_Strict):
    """One rule; the first whose conditions all hold applies."""

    type: TaskType | None = None
    complexity_at_least: int | None = Field(None, ge=1, le=10)
    complexity_at_most: int | None = Field(None, ge=1, le=10)
    start_tier: int | None = Field(None, ge=0)
    max_tier: int | None = Field(None, ge=0)
    local_only: bool = False

    def matches(self, task_type: str, complexity: int) -> bool:
        return (
            (self.type is None or self.type == task_type)
            and (self.complexity_at_least is None or complexity >= self.complexity_at_least)
            and (self.complexity_at_most is None or complexity <= self.complexity_at_most)
        )

    def describe(self) -> str:
        """The rule as the user wrote it, for explanations."""
        return (
            "{"
            + ", ".join(f"{k}: {v}" for k, v in self.model_dump(exclude_defaults=True).items())
            + "}"
        )


class ReviewSettings(_Strict):
    """``routing.review``: a second opinion on the final diff before the PR."""

    provider: str = Field(min_length=1)
    when: Literal["always", "escalated", "large_diff"] = "escalated"


class RoutingSettings(_Strict):
    #: Cheapest first; each tier is a list of provider names (a name alone is a tier of one).
    tiers: list[list[str]] = Field(default_factory=list)
    rules: list[RoutingRule] = Field(default_factory=list)
    privacy: Literal["cloud", "local"] = "cloud"
    #: Fraction of the daily or monthly limit spent -> the highest tier a run may start at.
    budget_tiers: dict[float, int] = Field(default_factory=dict)
    review: ReviewSettings | None = None

    @field_validator("tiers", mode="before")
    @classmethod
    def _tier_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [[t] if isinstance(t, str) else t for t in value]
        return value

    @field_validator("budget_tiers")
    @classmethod
    def _fractions(cls, value: dict[float, int]) -> dict[float, int]:
        for fraction, tier in value.items():
            if not 0 < fraction <= 1:
                raise ValueError(f"{fraction}: a fraction of the limit, above 0 and at most 1")
            if tier < 0:
                raise ValueError(f"{fraction}: tier {tier} is not a tier index (0 is the cheapest)")
        return dict(sorted(value.items()))

    @property
    def enabled(self) -> bool:
        return bool(self.tiers)


def check_routing(config: AppConfig, source: str) -> None:
    """Cross-checks against the providers; each error names its key."""
    routing = config.routing
    names = set(config.providers)
    where = f"{source}: routing"
    for i, tier in enumerate(routing.tiers):
        if not tier:
            raise ConfigError(f"{where}.tiers[{i}]: an empty tier; name at least one provider")
        for j, name in enumerate(tier):
            if name not in names:
                raise ConfigError(
                    f"{where}.tiers[{i}][{j}]: {name!r} is not a configured provider "
                    f"(configured: {', '.join(sorted(names)) or 'none'})"
                )
    top = len(routing.tiers) - 1
    for i, rule in enumerate(routing.rules):
        for key in ("start_tier", "max_tier"):
            value = getattr(rule, key)
            if value is not None and value > max(top, 0):
                raise ConfigError(
                    f"{where}.rules[{i}].{key}: tier {value} does not exist "
                    f"(routing.tiers has {len(routing.tiers)}: 0 to {top})"
                )
        start, most = rule.start_tier, rule.max_tier
        if start is not None and most is not None and start > most:
            raise ConfigError(f"{where}.rules[{i}]: start_tier is above max_tier")
    for fraction, tier in routing.budget_tiers.items():
        if tier > max(top, 0):
            raise ConfigError(
                f"{where}.budget_tiers.{fraction}: tier {tier} does not exist "
                f"(routing.tiers has {len(routing.tiers)})"
            )
    if routing.review and routing.review.provider not in names:
        raise ConfigError(
            f"{where}.review.provider: {routing.review.provider!r} is not a configured provider"
        )
    local = [n for n, p in config.providers.items() if p.local and p.enabled]
    if routing.privacy == "local" and not local:
        raise ConfigError(
            f"{where}.privacy: local, but no enabled provider is marked `local: true`; "
            "mark one (e.g. providers.ollama.local: true) or set routing.privacy: cloud"
        )
    if (
        routing.privacy == "local"
        and routing.tiers
        and not any(config.providers[n].local for tier in routing.tiers for n in tier)
    ):
        raise ConfigError(
            f"{where}.tiers: routing.privacy is local but no tier has a local provider"
        )
