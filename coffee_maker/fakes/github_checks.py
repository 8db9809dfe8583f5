"""Commits, check runs and commit statuses of the fake GitHub: routes and test helpers.

A ref (sha, branch or tag) is resolved in the repository's bare ``origin`` when the fake
has one in ``git_remotes``; otherwise a 40-hex sha stands for itself and a branch name for
the same stable fake sha a pull request reports for it.
"""

from __future__ import annotations

import itertools
import re
import threading
from typing import Any

from coffee_maker.fakes import github_git
from coffee_maker.fakes.github_http import paginate
from coffee_maker.fakes.github_json import Shapes
from coffee_maker.fakes.github_state import (
    CHECK_CONCLUSIONS,
    CHECK_STATUSES,
    STATUS_STATES,
    ApiError,
    FakeCheckRun,
    FakePull,
    FakeStatus,
    RecordedRequest,
    fake_sha,
    now,
)

Result = tuple[int, Any] | tuple[int, Any, dict[str, str]]
_SHA = re.compile(r"[0-9a-f]{40}")


class CheckRoutes:
    """Mixed into :class:`~coffee_maker.fakes.github.FakeGitHub`, which provides these."""

    login: str
    pulls: list[FakePull]
    repos: dict[str, dict[str, Any]]
    git_remotes: dict[str, str]
    check_runs: list[FakeCheckRun]
    statuses: list[FakeStatus]
    _lock: threading.RLock
    _ids: itertools.count

    def resolve(self, repo: str, ref: str) -> str | None:
        """The commit sha ``ref`` names in ``repo``, or None."""
        remote = self.git_remotes.get(repo)
        if remote:
            return github_git.rev_parse(remote, ref)
        if _SHA.fullmatch(ref):
            return ref
        branches = {self.repos[repo]["default_branch"]} if repo in self.repos else set()
        branches |= {p.head for p in self.pulls if p.repo == repo}
        branches |= {p.base for p in self.pulls if p.repo == repo}
        return fake_sha(f"{repo}:{ref}") if ref in branches else None

    # -- test helpers --------------------------------------------------------------------

    def add_check_run(
        self,
        repo: str,
        sha: str,
        name: str,
        status: str = "completed",
        conclusion: str | None = "failure",
        title: str = "",
        summary: str = "",
        text: str = "",
        *,
        details_url: str | None = None,
        app: str = "github-actions",
    ) -> FakeCheckRun:
        """A check run on commit ``sha`` (or the commit a branch name resolves to)."""
        with self._lock:
            head_sha = self._commit(repo, sha)
            stamp = now()
            run = FakeCheckRun(
                next(self._ids), repo, head_sha, name, "queued", None, stamp, None,
                details_url=details_url, app=app,
            )  # fmt: skip
            self.check_runs.append(run)
            return self.set_check_run(
                repo, run.id, status=status, conclusion=conclusion,
                title=title, summary=summary, text=text,
            )  # fmt: skip

    def set_check_run(
        self,
        repo: str,
        run_id: int,
        *,
        status: str | None = None,
        conclusion: str | None = None,
        title: str | None = None,
        summary: str | None = None,
        text: str | None = None,
    ) -> FakeCheckRun:
        """Change check run ``run_id``; a conclusion needs (and a "completed" status takes)
        one; any other status clears the conclusion and ``completed_at``."""
        with self._lock:
            run = next((r for r in self.check_runs if (r.repo, r.id) == (repo, run_id)), None)
            if run is None:
                raise ValueError(f"no check run {run_id} in {repo}")
            status = status or run.status
            if status not in CHECK_STATUSES:
                raise ValueError(f"status must be one of {', '.join(CHECK_STATUSES)}")
            if status == "completed":
                conclusion = conclusion or run.conclusion
                if conclusion not in CHECK_CONCLUSIONS:
                    choices = ", ".join(CHECK_CONCLUSIONS)
                    raise ValueError(f"a completed check run needs a conclusion: {choices}")
                if run.status != "completed":
                    run.completed_at = now()
            else:
                conclusion, run.completed_at = None, None
            run.status, run.conclusion = status, conclusion
            run.title = run.title if title is None else title
            run.summary = run.summary if summary is None else summary
            run.text = run.text if text is None else text
            return run

    def add_status(
        self,
        repo: str,
        sha: str,
        context: str,
        state: str,
        description: str = "",
        target_url: str | None = None,
    ) -> FakeStatus:
        """A commit status; a later one of the same context replaces it in the combined status."""
        if state not in STATUS_STATES:
            raise ValueError(f"state must be one of {', '.join(STATUS_STATES)}, not {state!r}")
        with self._lock:
            stamp = now()
            status = FakeStatus(
                next(self._ids), repo, self._commit(repo, sha), context, state, description,
                target_url, self.login, stamp, stamp,
            )  # fmt: skip
            self.statuses.append(status)
            return status

    def checks_state(self, repo: str, sha: str) -> str:
        """ "success", "pending" or "failure" over the latest check runs and statuses of ``sha``."""
        runs = _latest_runs([r for r in self.check_runs if (r.repo, r.head_sha) == (repo, sha)])
        states = [
            "pending"
            if r.status != "completed"
            else "success"
            if r.conclusion in ("success", "neutral", "skipped")
            else "failure"
            for r in runs
        ]
        latest = _latest_statuses([s for s in self.statuses if (s.repo, s.sha) == (repo, sha)])
        if latest:
            states.append(_combined(latest))
        if "failure" in states:
            return "failure"
        return "pending" if "pending" in states else "success"

    def _commit(self, repo: str, ref: str) -> str:
        sha = self.resolve(repo, ref)
        if sha is None:
            raise ValueError(f"{ref!r} names no commit of {repo}")
        return sha

    # -- routes ----------------------------------------------------------------------------

    def _route_sha(self, repo: str, ref: str) -> str:
        sha = self.resolve(repo, ref)
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return sha

    def get_commit(self, shapes: Shapes, req: RecordedRequest, repo: str, ref: str) -> Result:
        sha = self._route_sha(repo, ref)
        remote = self.git_remotes.get(repo)
        info = github_git.commit_info(remote, sha) if remote else None
        if info is None:
            person = {"name": self.login, "email": f"{self.login}@users.noreply.github.com"}
            person["date"] = "2026-01-01T00:00:00Z"
            info = {
                "tree": fake_sha(f"tree:{sha}"),
                "parents": [],
                "author": person,
                "committer": person,
                "message": f"commit {sha[:7]}",
            }
        return 200, shapes.commit(repo, sha, info)

    def list_check_runs(self, shapes: Shapes, req: RecordedRequest, repo: str, ref: str) -> Result:
        """``check_name``, ``status`` and ``filter`` (``latest``, the default: the newest run
        of each name; ``all``) narrow the list, as on GitHub."""
        sha = self._route_sha(repo, ref)
        runs = [r for r in self.check_runs if (r.repo, r.head_sha) == (repo, sha)]
        if req.query.get("filter", "latest") == "latest":
            runs = _latest_runs(runs)
        runs = [
            r
            for r in runs
            if req.query.get("check_name") in (None, r.name)
            and req.query.get("status") in (None, r.status)
        ]
        runs.sort(key=lambda r: r.id, reverse=True)
        page, headers = paginate(req, shapes.api + req.path, runs)
        body = {"total_count": len(runs), "check_runs": [shapes.check_run(r) for r in page]}
        return 200, body, headers

    def combined_status(self, shapes: Shapes, req: RecordedRequest, repo: str, ref: str) -> Result:
        """GitHub's combined state: failure if any latest status is error or failure,
        pending if any is pending (or there are none), else success."""
        sha = self._route_sha(repo, ref)
        latest = _latest_statuses([s for s in self.statuses if (s.repo, s.sha) == (repo, sha)])
        return 200, shapes.combined_status(repo, sha, _combined(latest), latest)


def _latest_runs(runs: list[FakeCheckRun]) -> list[FakeCheckRun]:
    newest: dict[tuple[str, str], FakeCheckRun] = {}
    for run in runs:
        key = (run.app, run.name)
        if key not in newest or run.id > newest[key].id:
            newest[key] = run
    return list(newest.values())


def _latest_statuses(statuses: list[FakeStatus]) -> list[FakeStatus]:
    newest: dict[str, FakeStatus] = {}
    for status in statuses:
        newest[status.context] = status
    return sorted(newest.values(), key=lambda s: s.id, reverse=True)


def _combined(statuses: list[FakeStatus]) -> str:
    states = {s.state for s in statuses}
    if states & {"error", "failure"}:
        return "failure"
    return "pending" if not statuses or "pending" in states else "success"
