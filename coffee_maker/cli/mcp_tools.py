"""What ``project-manager mcp``'s tools do, as plain functions of one repository.

No MCP here: :mod:`coffee_maker.cli.mcp_server` exposes these functions as tools and
resources. Each one answers from the same modules and files as the command-line
program it mirrors (``project-manager roadmap``, ``code-developer status --json``,
``provider status --json``, ``provider costs``), so the two cannot disagree; each checks
its input and raises a :class:`ToolInputError` (one line) before it reads or writes
anything; none of them returns a secret (the server redacts every answer as well). Only
``roadmap_add_priority``, ``roadmap_set_status`` and ``run_priority`` write, and none of
them writes the user's checkout.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from coffee_maker.cli.common import UsageError, load_app_config

STATUSES = ("Planned", "In Progress", "Complete", "Blocked")
COST_GROUPS = ("provider", "model", "priority", "day")
MAX_DAYS = 366


class ToolInputError(UsageError):
    """A tool argument that cannot be used; the message names it, on one line."""


@dataclass(frozen=True)
class Repo:
    """The repository the server serves, and the config file it was started with."""

    path: Path
    config_path: str | None = None

    def config(self) -> Any:
        return load_app_config(self.config_path, str(self.path))


def repository_root(path: str) -> Path:
    """The repository's top level; a path that is not in a git repository is one line."""
    from coffee_maker.autonomous.git_command import GitError, git_text

    where = Path(path).expanduser()
    if not where.is_dir():
        raise UsageError(f"--repo {path}: not a directory")
    try:
        return Path(git_text(where, "rev-parse", "--show-toplevel")).resolve()
    except GitError:
        raise UsageError(f"--repo {path}: not a git repository") from None


# -- checking arguments ------------------------------------------------------------------------


def one_line(name: str, value: str, limit: int) -> str:
    text = value.strip()
    if not text:
        raise ToolInputError(f"{name}: must not be empty")
    if len(text) > limit:
        raise ToolInputError(f"{name}: at most {limit} characters (got {len(text)})")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ToolInputError(f"{name}: one line of text, without control characters")
    return text


def priority_id(name: str, value: str, *, line_allowed: bool = True) -> str:
    """A priority reference in its canonical spelling (``3`` -> ``PRIORITY 3``)."""
    from coffee_maker.autonomous.roadmap import normalize_id, normalize_ref

    text = one_line(name, value, 80)
    try:
        return normalize_ref(text) if line_allowed else normalize_id(text)
    except ValueError as exc:
        raise ToolInputError(f"{name}: {exc}") from None


# -- the roadmap -----------------------------------------------------------------------------


def _base_roadmap(repo: Repo, config: Any) -> Any:
    from coffee_maker.autonomous.git_ops import GitError
    from coffee_maker.autonomous.planning import load_base_roadmap
    from coffee_maker.autonomous.roadmap import Roadmap

    try:  # what the daemon reads: the base branch's roadmap
        return load_base_roadmap(repo.path, config)
    except GitError:  # no base branch yet: the file in the checkout, as `roadmap` shows
        return Roadmap.load(repo.path / config.daemon.roadmap)


def roadmap_list(repo: Repo) -> dict[str, Any]:
    """Every priority as the daemon sees it, with its note (``project-manager roadmap``)."""
    from coffee_maker.autonomous.priority_view import priority_views
    from coffee_maker.autonomous.state import RepoState
    from coffee_maker.cli.roadmap_command import notes_for

    config = repo.config()
    roadmap = _base_roadmap(repo, config)
    views = priority_views(roadmap, RepoState.load(repo.path))
    notes = notes_for(views)
    priorities = [view.to_dict() | {"note_words": notes.get(view.ref, "")} for view in views]
    following = next((view.ref for view in views if view.is_next), None)
    return {
        "roadmap": roadmap.path,
        "next": following,
        "priorities": priorities,
        "warnings": roadmap.warnings,
    }


def roadmap_add_priority(
    repo: Repo,
    title: str,
    description: str,
    dependencies: list[str] | None = None,
    priority: str | None = None,
) -> dict[str, Any]:
    """Append a Planned priority, on a new branch with a pull request."""
    from coffee_maker.autonomous.roadmap_changes import TEXT_LIMIT, TITLE_LIMIT, RoadmapChanger

    title = one_line("title", title, TITLE_LIMIT)
    if title.startswith("#"):
        raise ToolInputError("title: the heading's words only, without '#'")
    text = description.strip()
    if not text:
        raise ToolInputError("description: must not be empty (it is the task the model gets)")
    if len(text) > TEXT_LIMIT:
        raise ToolInputError(f"description: at most {TEXT_LIMIT} characters (got {len(text)})")
    deps = [priority_id("dependencies", d, line_allowed=False) for d in dependencies or []]
    if len(set(deps)) != len(deps):
        raise ToolInputError("dependencies: a priority is named twice")
    pid = priority_id("priority_id", priority, line_allowed=False) if priority else None
    proposal = RoadmapChanger(repo.config(), repo.path).add_priority(title, text, deps, pid)
    return asdict(proposal)


def roadmap_set_status(repo: Repo, priority: str, status: str) -> dict[str, Any]:
    """Change one priority's status, on a new branch with a pull request."""
    from coffee_maker.autonomous.roadmap import Status
    from coffee_maker.autonomous.roadmap_changes import RoadmapChanger

    ref = priority_id("priority", priority)
    wanted = {s.lower(): s for s in STATUSES}.get(str(status).strip().lower())
    if wanted is None:
        raise ToolInputError(f"status: one of {', '.join(STATUSES)} (got {status!r})")
    proposal = RoadmapChanger(repo.config(), repo.path).set_status(ref, Status(wanted))
    return asdict(proposal)


# -- the daemon --------------------------------------------------------------------------------


def daemon_status(repo: Repo) -> dict[str, Any]:
    """Exactly ``code-developer status --json``'s data."""
    from coffee_maker.cli.daemon_status import collect_status

    return collect_status(repo.path, repo.config_path)


def run_priority(repo: Repo, priority: str) -> dict[str, Any]:
    """Ask the running daemon to take ``priority`` at its next iteration."""
    from coffee_maker.autonomous import run_requests
    from coffee_maker.autonomous.repo_lock import RepoLock
    from coffee_maker.autonomous.roadmap import PriorityLookupError, Status

    ref = priority_id("priority", priority)
    config = repo.config()
    try:
        chosen = _base_roadmap(repo, config).find(ref)
    except PriorityLookupError as exc:
        raise ToolInputError(f"priority: {exc}") from None
    if chosen.status is Status.COMPLETE:
        raise ToolInputError(f"priority: {chosen.ref} is already Complete")
    pid = RepoLock.holder(repo.path)
    if pid is None:
        raise ToolInputError(
            f"no daemon is running for {repo.path}: start one with `code-developer`, or "
            f"run this priority once with `code-developer --once --priority '{chosen.ref}'`"
        )
    request = run_requests.request_run(repo.path, chosen.ref)
    return {
        "requested": chosen.ref,
        "title": chosen.title,
        "daemon_pid": pid,
        "requested_at": request["requested_at"],
        "note": "the daemon takes it at its next iteration (after any review follow-up due); "
        "daemon_status shows it running",
    }


def route_explain(repo: Repo, priority: str | None = None) -> dict[str, Any]:
    """Which tier and providers the priority (or the next ready one) gets, and every
    reason: ``project-manager route explain --json``'s data."""
    from coffee_maker.cli.route_command import RouteError, route_of

    ref = priority_id("priority", priority) if priority else None
    try:
        chosen, decision = route_of(repo.config(), repo.path, ref)
    except RouteError as exc:
        raise ToolInputError(str(exc)) from None
    return {"priority": chosen.id, "title": chosen.title, **decision.to_dict()}


# -- providers and money -----------------------------------------------------------------------


def provider_status(repo: Repo, timeout: float = 10.0) -> dict[str, Any]:
    """The same data as ``project-manager provider status --json``."""
    from coffee_maker.cli.provider_commands import status_report

    if not 0 < timeout <= 60:
        raise ToolInputError(f"timeout: between 0 and 60 seconds (got {timeout})")
    return status_report(repo.config(), timeout)


def costs(repo: Repo, days: int = 7, by: str = "provider") -> dict[str, Any]:
    """Spend against the budgets, and the calls grouped by provider, model, priority or day."""
    from coffee_maker.ai_providers.cost_tracker import CostTracker
    from coffee_maker.cli.costs_report import cost_data

    if by not in COST_GROUPS:
        raise ToolInputError(f"by: one of {', '.join(COST_GROUPS)} (got {by!r})")
    if not 1 <= days <= MAX_DAYS:
        raise ToolInputError(f"days: from 1 to {MAX_DAYS} (got {days})")
    config = repo.config()
    return cost_data(CostTracker(config.cost_controls), config.cost_controls, days, by)


# -- transcripts -------------------------------------------------------------------------------

_RUN_FILE = re.compile(r"\d{8}T\d{6}-[0-9a-f]{6}\.jsonl")
TRANSCRIPT_LIMIT = 200_000  # characters of a transcript a resource returns (its end)


def latest_transcript(repo: Repo, priority: str) -> str:
    """The newest run record (JSONL) of ``priority`` in this repository, redacted again."""
    from coffee_maker.autonomous.state import state_dir
    from coffee_maker.autonomous.task_ids import priority_of
    from coffee_maker.secrets import redact_text

    pid = priority_id("priority", priority, line_allowed=False)
    runs = state_dir(repo.path) / "runs"
    files = sorted((p for p in runs.glob("*.jsonl") if _RUN_FILE.fullmatch(p.name)), reverse=True)
    for path in files:
        with path.open("rb") as handle:
            first = handle.readline(100_000)
        try:
            start = json.loads(first)
        except ValueError:
            continue
        owner = priority_of(start.get("task_id")) if isinstance(start, dict) else None
        if owner == (repo.path.name, pid):
            text = path.read_bytes().decode("utf-8", errors="replace")
            if len(text) > TRANSCRIPT_LIMIT:
                text = text[-TRANSCRIPT_LIMIT:].partition("\n")[2]
            return redact_text(text)
    raise ToolInputError(f"priority: no run of {pid} has a transcript in {runs}")
