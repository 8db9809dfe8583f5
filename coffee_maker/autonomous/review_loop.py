"""The review loop: what the PRs the daemon opened ask of it next.

An iteration first looks at the open PRs it opened (:meth:`ReviewLoop.next_work`) and
takes at most one piece of work: a pending follow-up (a review asking for changes, an
inline review comment, a comment that mentions ``daemon.review_trigger``, or a failing
check on the head commit), else a merged or closed PR to record. Only then does it turn
to the next priority.

Who may steer it: on a public repository anyone can comment, and a comment is a prompt.
So only accounts with write, maintain or admin permission on the repository, or listed in
``daemon.reviewers``, make work; anything else is logged once and ignored, at no cost.
The token's own comments are the daemon's, never work. Each remark is taken at most once
(its key is recorded as handled), and follow-ups and CI repairs have their own limits per
PR (``daemon.max_followups``, ``daemon.max_ci_repairs``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coffee_maker.autonomous.pr_watch import Check, PullSnapshot, PullWatch, Remark, pull_number
from coffee_maker.autonomous.pull_requests import PullRequestError, PullRequestPublisher
from coffee_maker.autonomous.state import Outcome, RepoState, now_iso, state_dir
from coffee_maker.config import AppConfig
from coffee_maker.logging import get_logger

log = get_logger(__name__)

WRITERS = frozenset({"admin", "write"})  # GitHub reports maintain as write
#: Characters of remarks one follow-up takes, each counted as the prompt quotes it (at most
#: 4,000, plus its markers): all of them fit in the prompt, so each one it records as
#: handled (and answers as addressed) was read by the model.
ASK_LIMIT = 16_000


@dataclass(frozen=True)
class FollowUp:
    """Work a PR asks for: review remarks to address, or failing checks to repair."""

    priority_id: str
    pull: PullSnapshot
    kind: str  # review | ci
    remarks: tuple[Remark, ...] = ()
    checks: tuple[Check, ...] = ()
    keys: tuple[str, ...] = ()  # recorded as handled once the follow-up is done
    #: The conversation the model reads: remarks by accounts allowed to steer it and the
    #: daemon's own; a stranger's words never reach the model, not even as context.
    thread: tuple[Remark, ...] = ()


@dataclass(frozen=True)
class PullEnded:
    """A PR that was merged or closed since the last look."""

    priority_id: str
    pull: PullSnapshot


Work = FollowUp | PullEnded


class ReviewLoop:
    """Looks at the tracked PRs and says what to do next; records what it saw."""

    def __init__(
        self,
        config: AppConfig,
        repo: Path,
        state: RepoState,
        publisher: Callable[[], PullRequestPublisher],
    ) -> None:
        self.config = config
        self.repo = repo
        self.state = state
        self._publisher_factory = publisher
        self._publisher: PullRequestPublisher | None = None
        self._watch: PullWatch | None = None
        #: Only this PR (the fleet's workflow of one priority looks at its own PR only).
        self.only: int | None = None

    @property
    def publisher(self) -> PullRequestPublisher:
        if self._publisher is None:
            self._publisher = self._publisher_factory()
        return self._publisher

    @property
    def watch(self) -> PullWatch:
        if self._watch is None:
            self._watch = PullWatch(self.publisher, state_dir(self.repo))
        return self._watch

    def close(self) -> None:
        if self._watch is not None:
            self._watch.save()
        if self._publisher is not None:
            self._publisher.close()

    # -- which PRs ---------------------------------------------------------------------------
    def adopt(self) -> None:
        """Track every PR the state names (runs before the review loop existed recorded
        only its URL)."""
        tracked = self.state.pulls()
        base = self.config.daemon.base_branch or ""
        for priority_id, record in self.state.to_dict()["priorities"].items():
            number = pull_number(record.get("pr_url"))
            if number is not None and str(number) not in tracked:
                branch = record.get("branch") or ""
                self.state.track_pull(number, priority_id, branch, base, record["pr_url"])

    def open_pulls(self) -> list[dict[str, Any]]:
        pulls = [p for p in self.state.pulls().values() if p["state"] == "open"]
        return [p for p in pulls if self.only is None or p["number"] == self.only]

    def due(self, force: bool = False) -> bool:
        """Whether the PRs should be looked at now (``daemon.review_poll_interval``)."""
        if force:
            return True
        interval = timedelta(seconds=self.config.daemon.review_poll_interval)
        last = min((p.get("checked_at") or "" for p in self.open_pulls()), default=None)
        if last is None:
            return False
        if not last:
            return True
        return datetime.fromisoformat(last) + interval <= datetime.now(UTC)

    # -- what next ---------------------------------------------------------------------------
    def next_work(self) -> Work | None:
        """At most one piece of work: a follow-up first, else a PR that ended."""
        ended: PullEnded | None = None
        for record in self.open_pulls():
            try:
                snapshot = self.watch.look(record["number"])
            except PullRequestError as exc:
                log.warning(
                    "could not look at a pull request", number=record["number"], error=str(exc)
                )
                continue
            work = self._work_for(record, snapshot)
            if isinstance(work, FollowUp):
                return work
            if work is not None and ended is None:
                ended = work
        return ended

    def _work_for(self, record: dict[str, Any], snapshot: PullSnapshot) -> Work | None:
        priority_id = record["priority"]
        if snapshot.state != "open":
            return PullEnded(priority_id, snapshot)
        if record["branch"] and snapshot.head_branch != record["branch"]:
            log.warning(
                "a pull request's head is not the branch the daemon pushed; leaving it alone",
                number=snapshot.number,
                head=snapshot.head_branch,
                branch=record["branch"],
            )
            return None
        daemon = self.config.daemon
        handled = set(record["handled"]) | set(record["ignored"])
        asking: list[Remark] = []
        strangers: list[Remark] = []
        # A review dismissed (by a maintainer, since) no longer asks: nor do its inline comments.
        dismissed = {r.id for r in snapshot.remarks if r.review_state == "DISMISSED"}
        own = self.own(snapshot)
        for remark in snapshot.remarks:
            if remark.key in handled or remark.review_id in dismissed:
                continue
            if not self._asks(remark, own):
                continue
            if self.allowed(remark.author):
                asking.append(remark)
            else:
                strangers.append(remark)
        self._ignore(snapshot, strangers, "no write permission on the repository")
        self._note_look(snapshot, len(asking))
        if asking:
            if record["followups"] < daemon.max_followups:
                asking = _first_to_quote(asking)  # the rest: the next follow-up's
                keys = tuple(r.key for r in asking)
                thread = self._thread(snapshot)
                return FollowUp(
                    priority_id, snapshot, "review", tuple(asking), keys=keys, thread=thread
                )
            self._over_limit(snapshot, asking, "daemon.max_followups", daemon.max_followups)
            return None
        failing = snapshot.failing_checks
        key = f"ci:{snapshot.head_sha}"
        if snapshot.ci_state != "failing" or key in handled:
            return None  # passing, none, or still running: waited for at the next look
        if record["ci_repairs"] < daemon.max_ci_repairs:
            return FollowUp(priority_id, snapshot, "ci", checks=failing, keys=(key,))
        self._say_once(
            snapshot,
            "ci-limit",
            f"coffee-maker reached `daemon.max_ci_repairs` ({daemon.max_ci_repairs}) on this "
            "pull request and will not try to repair failing checks again.",
        )
        return None

    def own(self, snapshot: PullSnapshot) -> set[str]:
        """The daemon's own accounts on this PR: the token's, and the PR's author (the
        daemon opened it), which is all there is when GitHub will not say who the token is."""
        return {name for name in (self.watch.login(), snapshot.author) if name}

    def _thread(self, snapshot: PullSnapshot) -> tuple[Remark, ...]:
        own = self.own(snapshot)
        return tuple(
            r for r in snapshot.remarks if r.author and (r.author in own or self.allowed(r.author))
        )

    def _asks(self, remark: Remark, own: set[str]) -> bool:
        """A review asking for changes, an inline comment, or a mention of the trigger;
        the daemon's own remarks never."""
        if not remark.author or remark.author in own:
            return False
        if remark.kind == "review" and remark.review_state == "CHANGES_REQUESTED":
            return True
        if remark.kind == "inline":
            return True
        return self.config.daemon.review_trigger.lower() in remark.body.lower()

    def allowed(self, login: str) -> bool:
        """Listed in ``daemon.reviewers``, or write, maintain or admin on the repository."""
        if login.lower() in {name.lower() for name in self.config.daemon.reviewers}:
            return True
        return self.watch.permission(login) in WRITERS

    # -- bookkeeping -------------------------------------------------------------------------
    def _ignore(self, snapshot: PullSnapshot, remarks: list[Remark], why: str) -> None:
        if not remarks:
            return
        for remark in remarks:
            log.warning(
                "ignored a remark on a pull request",
                number=snapshot.number,
                author=remark.author,
                kind=remark.kind,
                reason=why,
            )
        with self.state.change_pull(snapshot.number) as record:  # one write, however many
            record["ignored"].extend(remark.key for remark in remarks)

    def _over_limit(
        self, snapshot: PullSnapshot, remarks: list[Remark], setting: str, limit: int
    ) -> None:
        self._ignore(snapshot, remarks, f"{setting} ({limit}) reached")
        self._say_once(
            snapshot,
            "followup-limit",
            f"coffee-maker reached `{setting}` ({limit}) on this pull request and will not "
            "act on further comments; a person can take it from here.",
        )

    def _say_once(self, snapshot: PullSnapshot, note: str, text: str) -> None:
        if note in self.state.pulls().get(str(snapshot.number), {}).get("notes", []):
            return
        try:
            self.publisher.comment(snapshot.number, text)
        except PullRequestError as exc:
            log.warning("could not comment on a pull request", error=str(exc))
            return
        with self.state.change_pull(snapshot.number) as record:
            record["notes"].append(note)

    def _note_look(self, snapshot: PullSnapshot, unresolved: int) -> None:
        with self.state.change_pull(snapshot.number) as record:
            record.update(
                checked_at=now_iso(),
                review_state=snapshot.review_state,
                ci_state=snapshot.ci_state,
                unresolved=unresolved,
                url=snapshot.url or record["url"],
                base=snapshot.base_branch or record["base"],
                branch=record["branch"] or snapshot.head_branch,
            )

    def record_closed(self, ended: PullEnded) -> str:
        """A PR closed without merging blocks its priority; it is never reopened."""
        number = ended.pull.number
        reason = f"PR #{number} closed without merge"
        self.state.block(ended.priority_id, reason)
        with self.state.change_pull(number) as record:
            record.update(state="closed", finished=now_iso(), checked_at=now_iso())
        return f"{ended.priority_id}: {reason}; blocked (use --priority to run it again)"

    def record_merged(self, ended: PullEnded, completed: str) -> None:
        with self.state.change_pull(ended.pull.number) as record:
            record.update(state="merged", finished=completed, checked_at=now_iso())
        if self.state.record(ended.priority_id)["last_outcome"] != Outcome.SUCCESS.value:
            # A draft a person merged: the priority is done, not awaiting review any more.
            self.state.record_attempt(ended.priority_id, Outcome.SUCCESS, verdict="merged")

    def record_followup(self, work: FollowUp, handled: bool = True, **outcome: Any) -> None:
        """The follow-up is done: counted, and its remarks (or the failing head) handled
        unless ``handled=False`` (it failed before answering: the next look tries again)."""
        with self.state.change_pull(work.pull.number) as record:
            if handled:
                record["handled"].extend(k for k in work.keys if k not in record["handled"])
            counter = "ci_repairs" if work.kind == "ci" else "followups"
            record[counter] += 1
            record["last_followup"] = {"at": now_iso(), "kind": work.kind, **outcome}


def _first_to_quote(remarks: list[Remark]) -> list[Remark]:
    """The oldest remarks that fit in :data:`ASK_LIMIT` (always the first one)."""
    taken: list[Remark] = []
    size = 0
    for remark in sorted(remarks, key=lambda r: (r.created_at, r.id)):
        size += min(len(remark.body), 4_000) + 100
        if taken and size > ASK_LIMIT:
            break
        taken.append(remark)
    return taken
