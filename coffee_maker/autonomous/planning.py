"""What an iteration will do, before it does it: the roadmap, the task, the tests, ``--dry-run``.

A dry run changes nothing: no fetch, no worktree, no commit, no model call, no ledger
record. Only the roadmap (as last fetched), the config, the providers' offline checks,
the ledger's totals and what the preflight reads (``git ls-remote``, GitHub's view of the
repository) are read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.autonomous import git_ops
from coffee_maker.autonomous.roadmap import Priority, Roadmap, RoadmapError, Status
from coffee_maker.config import AppConfig

if TYPE_CHECKING:
    from coffee_maker.autonomous.iteration import Iteration
    from coffee_maker.autonomous.preflight import Check
    from coffee_maker.autonomous.run_endings import IterationResult

TASK_TEMPLATE = """\
Implement this priority from the repository's ROADMAP.md.

{text}

Keep the change focused on this priority, follow the code's existing style, and add or
update tests where it makes sense. Do not edit ROADMAP.md: the harness marks the priority
complete when the tests pass.
"""


def task_text(priority: Priority) -> str:
    """The task given to the model: the priority's own section of the roadmap."""
    return TASK_TEMPLATE.format(text=priority.section_text.strip())


_default_branches: dict[tuple[Path, str], str] = {}


def resolve_base_branch(config: AppConfig, repo: Path) -> str:
    """The branch work starts from and pull requests go into, for every reader of it.

    ``daemon.base_branch`` when set; else the remote's default branch
    (:func:`git_ops.default_branch`), looked up once per process: a repository whose
    default is ``master`` gets its PRs against ``master`` with no configuration.
    """
    daemon = config.daemon
    if daemon.base_branch:
        return daemon.base_branch
    key = (Path(repo).resolve(), daemon.remote)
    if key not in _default_branches:
        _default_branches[key] = git_ops.default_branch(repo, daemon.remote)
    return _default_branches[key]


def load_base_roadmap(repo: Path, config: AppConfig, fetch: bool = False) -> Roadmap:
    """The roadmap as the base branch has it (after fetching it, with ``fetch``)."""
    daemon = config.daemon
    base_branch = resolve_base_branch(config, repo)
    if fetch:
        git_ops.fetch_base(repo, base_branch, daemon.remote)
    base = git_ops.base_commit(repo, base_branch, daemon.remote)
    label = f"{base_branch}:{daemon.roadmap}"
    data = git_ops.read_file_at(repo, base, daemon.roadmap)
    if data is None:
        raise RoadmapError(
            [
                f"{label}: not found; the daemon reads the roadmap from the base branch, so "
                "commit and push it (or set daemon.roadmap / daemon.base_branch)"
            ]
        )
    try:
        return Roadmap.parse(data.decode("utf-8"), label)
    except UnicodeDecodeError as exc:
        raise RoadmapError([f"{label}: not UTF-8 text (byte {exc.start})"]) from None


def provider_chain(iteration: Iteration) -> list[dict[str, Any]]:
    """The providers the run would try, in order, with why any would be skipped: the
    fallback layer's own answer (``FallbackStrategy.usability``), so the plan says what the
    run will do and what ``project-manager provider status`` says."""
    strategy = iteration.strategy()
    chain = []
    for name, verdict in strategy.usability_all().items():
        settings = iteration.config.providers.get(name)
        entry: dict[str, Any] = {
            "name": name,
            "models": settings.models if settings else [],
            "usable": verdict.usable,
            "free": verdict.free,
        }
        if not verdict.usable:
            entry |= {"why": verdict.reason, "until": verdict.to_dict()["until"]}
        chain.append(entry)
    return chain


def describe_plan(
    iteration: Iteration, priority: Priority, checks: Sequence[Check] = ()
) -> dict[str, Any]:
    """The dry run's report, as text for people and as data (``details``) for programs;
    the preflight ``checks`` come first, one ``ok``/``bad`` line each."""
    config = iteration.config
    chain = provider_chain(iteration)
    route = iteration.route(priority)
    # routed: the start tier's providers (none when the route is refused)
    allowed = route.start.providers if route.start else (() if route.routed else None)
    usable = [c for c in chain if c["usable"] and (allowed is None or c["name"] in allowed)]
    first = usable[0] if usable else None
    estimate = None
    if first is not None:
        estimate = iteration.factory.create(first["name"]).estimate_cost(task_text(priority))
    limits = config.cost_controls
    budget = {
        "daily_left": _left(limits.daily_limit, iteration.tracker.get_daily_cost()),
        "monthly_left": _left(limits.monthly_limit, iteration.tracker.get_monthly_cost()),
        "per_task_limit": limits.per_task_limit,
    }
    tests = iteration.tests()
    test_command = tests.command
    steps = " -> ".join(
        f"{c['name']}({'/'.join(c['models']) or 'default'})"
        + ("" if c["usable"] else f" [skipped: {c.get('why')}]")
        for c in chain
    )
    cost = f"${estimate:.4f} on {first['name']}" if first else "no usable provider"
    lines = [
        f"dry run: nothing will be changed in {iteration.repo}",
        *(check.line for check in checks),
        f"priority: {priority.id}: {priority.title} (status {priority.status.value})",
        f"provider chain: {steps or 'none'}",
        f"budget left: today {_money(budget['daily_left'])}, this month "
        f"{_money(budget['monthly_left'])}, per task {_money(limits.per_task_limit)}",
        f"first call's worst case: {cost}",
        f"tests: {test_command or 'none'} ({tests.reason})",
        f"branch: {config.daemon.branch_prefix}... from "
        f"{resolve_base_branch(config, iteration.repo)}; "
        f"pull request: {'yes' if iteration.wants_pr() else 'no'}",
    ]
    lines += [f"route: {line}" for line in route.lines()]
    if priority.status is not Status.PLANNED:
        lines.append(f"note: {priority.id} is {priority.status.value}; --priority runs it anyway")
    return {
        "route": route.to_dict(),
        "text": "\n".join(lines),
        "priority": priority.id,
        "chain": chain,
        "estimate": estimate,
        "budget": budget,
        "test_command": test_command,
        "test_reason": tests.reason,
        "checks": [asdict(check) for check in checks],
    }


def _left(limit: float | None, spent: float) -> float | None:
    return None if limit is None else max(0.0, limit - spent)


def _money(value: float | None) -> str:
    return "unlimited" if value is None else f"${value:.2f}"


NOTHING_TO_DO = (
    "nothing to do: no planned priority is ready (all complete, awaiting review, "
    "blocked or waiting on dependencies)"
)


def dry_run(iteration: Iteration) -> IterationResult:
    """``--dry-run``: the plan, after every preflight check; only the checks when one
    fails (exit 2). Nothing is changed, and the PRs are not looked at."""
    from coffee_maker.autonomous import preflight
    from coffee_maker.autonomous.run_endings import Ending, IterationResult

    checks = iteration.preflight_checks()
    lines = [f"dry run: nothing will be changed in {iteration.repo}", *preflight.render(checks)]
    bad = [check for check in checks if not check.ok]
    if bad:
        lines.append(f"not ready: {len(bad)} of {len(checks)} checks failed; fix the bad lines")
        details = {"checks": [dataclasses.asdict(check) for check in checks]}
        return IterationResult(Ending.NOT_READY, "\n".join(lines), details=details)
    priority = iteration.select(load_base_roadmap(iteration.repo, iteration.config))
    if priority is None:
        return IterationResult(Ending.NOTHING_TO_DO, "\n".join([*lines, NOTHING_TO_DO]))
    plan = describe_plan(iteration, priority, checks)
    return IterationResult(Ending.DRY_RUN, plan["text"], priority.id, details=plan)
