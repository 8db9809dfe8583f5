"""Roadmap changes asked from outside the daemon: each one a branch and a pull request.

``project-manager mcp`` lets an assistant add a priority or change a status. The user's
checkout is never written: the change is made in a worktree of ours started from the base
branch as fetched now, committed on a new branch of ours
(``<branch_prefix>roadmap/...``), pushed (never forced) and proposed as a pull request
through the daemon's own publisher. The daemon reads the roadmap from the base branch, so
the change counts once the pull request is merged. The new text is checked with the
daemon's own parser before anything is committed: a change that would add more than the
one priority, or a doubt the roadmap did not have, is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from coffee_maker.ai_providers.atomic_files import locked
from coffee_maker.autonomous import git_ops, publishing
from coffee_maker.autonomous.planning import resolve_base_branch
from coffee_maker.autonomous.public_text import plain
from coffee_maker.autonomous.pull_requests import PullRequestError
from coffee_maker.autonomous.roadmap import (
    STATUS_EMOJI,
    Roadmap,
    RoadmapError,
    Status,
    set_status,
    slugify,
)
from coffee_maker.autonomous.state import state_dir
from coffee_maker.config import AppConfig
from coffee_maker.errors import UserError

TITLE_LIMIT = 120
TEXT_LIMIT = 20_000
_LOCK_FILE = ".roadmap-change.lock"


class RoadmapChangeError(UserError):
    """A roadmap change that cannot be made as asked; nothing was written."""


@dataclass(frozen=True)
class Proposal:
    """What was proposed: the branch pushed and the pull request (None without PRs)."""

    change: str
    branch: str
    base_branch: str
    pr_url: str | None
    pr_number: int | None
    commit: str


def next_id(roadmap: Roadmap) -> str:
    """``PRIORITY N`` one above the highest whole ``PRIORITY`` number of the roadmap."""
    numbers = [int(m.group(1)) for p in roadmap if (m := re.fullmatch(r"PRIORITY (\d+)", p.id))]
    return f"PRIORITY {max(numbers, default=0) + 1}"


def priority_section(pid: str, title: str, text: str, dependencies: list[str]) -> str:
    """A priority in the documented format (docs/ROADMAP_FORMAT.md), Planned."""
    planned = STATUS_EMOJI[Status.PLANNED]
    lines = [f"## {pid}: {title} {planned}", "", f"**Status**: {planned} Planned"]
    if dependencies:
        lines.append(f"**Dependencies**: {', '.join(dependencies)}")
    return "\n".join([*lines, "", text.strip(), ""])


def appended(roadmap_text: str, section: str) -> str:
    """The roadmap with ``section`` at its end, after one blank line, in its line endings."""
    newline = "\r\n" if "\r\n" in roadmap_text else "\n"
    body = roadmap_text.rstrip("\r\n")
    added = ("\n\n" if body else "") + section
    return body + added.replace("\n", newline)


def check_added(before: Roadmap, after: Roadmap, pid: str, dependencies: list[str]) -> None:
    """The new text adds exactly the one priority asked for, as asked, and no doubt."""
    new = [p for p in after if p.id == pid]
    if len(after) != len(before) + 1 or len(new) != 1:
        raise RoadmapChangeError(
            "the text would not add exactly one priority (does the description hold a "
            "priority heading?); nothing was written"
        )
    added = new[0]
    if added.status is not Status.PLANNED or added.dependencies != dependencies:
        raise RoadmapChangeError(
            f"{pid} would not read back as written (status {added.status.value}, "
            f"dependencies {added.dependencies}); nothing was written"
        )
    doubts = [w for w in after.warnings if w not in set(before.warnings)]
    if doubts or added.held:
        raise RoadmapChangeError(f"the roadmap would gain a warning: {(doubts or added.held)[0]}")


class RoadmapChanger:
    """Proposes roadmap changes for one repository; one change at a time (a lock)."""

    def __init__(self, config: AppConfig, repo: Path) -> None:
        self.config = config
        self.repo = repo

    def add_priority(
        self, title: str, text: str, dependencies: list[str], pid: str | None = None
    ) -> Proposal:
        def change(roadmap: Roadmap, current: str) -> tuple[str, str, str]:
            for dep in dependencies:
                if not any(p.id == dep for p in roadmap):
                    raise RoadmapChangeError(f"dependencies: no {dep} in the roadmap")
            new_id = pid or next_id(roadmap)
            if any(p.id == new_id for p in roadmap):
                raise RoadmapChangeError(f"priority_id: {new_id} is already in the roadmap")
            updated = appended(current, priority_section(new_id, title, text, dependencies))
            check_added(roadmap, Roadmap.parse(updated, roadmap.path), new_id, dependencies)
            what = f"add {new_id}: {title}"
            branch_tail = f"add-{slugify(new_id, 20)}-{slugify(title, 30)}"
            return updated, what, branch_tail

        return self._propose(change)

    def set_status(self, ref: str, status: Status) -> Proposal:
        def change(roadmap: Roadmap, current: str) -> tuple[str, str, str]:
            try:
                priority = roadmap.find(ref)
            except LookupError as exc:
                raise RoadmapChangeError(f"priority: {exc}") from None
            if priority.status is status:
                raise RoadmapChangeError(f"{priority.ref} is already {status.value}")
            label = roadmap.path
            updated = set_status(current, priority.id, status, label, line=priority.line)
            after = Roadmap.parse(updated, label).find(priority.ref)
            if after.status is not status:
                raise RoadmapChangeError(f"{priority.ref}: the status would not read back")
            what = f"mark {priority.id} {status.value}"
            branch_tail = f"status-{slugify(priority.id, 20)}-{slugify(status.value, 20)}"
            return updated, what, branch_tail

        return self._propose(change)

    def _propose(self, change) -> Proposal:  # type: ignore[no-untyped-def]
        daemon = self.config.daemon
        publisher = None
        if daemon.create_prs:  # a missing token or repository is said before any push
            publisher = publishing.make_publisher(self.config, self.repo)
        base = resolve_base_branch(self.config, self.repo)
        with locked(state_dir(self.repo) / _LOCK_FILE, timeout=120):
            git_ops.fetch_base(self.repo, base, daemon.remote)
            base_sha = git_ops.base_commit(self.repo, base, daemon.remote)
            data = git_ops.read_file_at(self.repo, base_sha, daemon.roadmap)
            label = f"{base}:{daemon.roadmap}"
            if data is None:
                raise RoadmapChangeError(f"{label}: not found on the base branch")
            try:
                current = data.decode("utf-8")
            except UnicodeDecodeError:
                raise RoadmapError([f"{label}: not UTF-8 text"]) from None
            updated, what, tail = change(Roadmap.parse(current, label), current)
            # The words come from an assistant: in a commit message or a PR they must not
            # close an issue once merged (``closes #1``) nor notify anyone (``@someone``).
            what = plain(what)
            branch = f"{daemon.branch_prefix}roadmap/{tail}"
            if git_ops.remote_has_branch(self.repo, branch, daemon.remote):
                raise RoadmapChangeError(
                    f"branch {branch} is already on {daemon.remote} (an earlier request not "
                    "merged yet?); merge or delete it first"
                )
            worktree = git_ops.create_worktree(
                self.repo, "roadmap", tail, daemon.branch_prefix, base, daemon.remote,
                branch=branch,
            )  # fmt: skip
            try:
                (worktree.path / daemon.roadmap).write_bytes(updated.encode("utf-8"))
                message = f"Roadmap: {what}\n\nProposed through project-manager mcp."
                sha = git_ops.commit_all(worktree, message) or ""
                git_ops.push_branch(worktree, branch, daemon.remote)
            finally:  # the branch lives on the remote; no local branch is left behind
                git_ops.remove_worktree(self.repo, worktree)
                git_ops.delete_local_branch(self.repo, branch)
        pr_url = pr_number = None
        if publisher is not None:
            body = (
                f"Roadmap change: {what}.\n\nProposed through `project-manager mcp`; the "
                "daemon reads the roadmap from the base branch, so it counts once merged."
            )
            try:
                info = publisher.open_or_update(branch, base, f"Roadmap: {what}"[:200], body)
            except PullRequestError as exc:
                raise RoadmapChangeError(
                    f"pushed {branch}, but the pull request failed: {exc.one_line()}; open it "
                    "by hand, or delete the branch and ask again"
                ) from None
            finally:
                publisher.close()
            pr_url, pr_number = info.url, info.number
        return Proposal(what, branch, base, pr_url, pr_number, sha)
