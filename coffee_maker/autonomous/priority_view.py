"""Each roadmap priority as the daemon sees it: one typed view for every report.

The roadmap says what a priority is; the daemon's state says what happened to it
(attempts, a block, a pull request waiting for review, the run in progress). Joining the
two, and deciding which note a priority gets (running, blocked, awaiting review, next,
held, waiting for its dependencies), happens here only, with the same rules the daemon
uses to pick its next priority (:meth:`Roadmap.next_planned` skipping what
:meth:`RepoState.is_skipped` passes over). ``code-developer status`` and
``project-manager roadmap`` render these views in their own words; neither decides.

A new fact about a priority (say, its pull request's review or CI state) is one more
field here, filled in :func:`priority_views`, and then available to both commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from coffee_maker.autonomous.roadmap import Priority, Roadmap, Status
from coffee_maker.autonomous.state import RepoState, review_note


class NoteKind(StrEnum):
    """The one note a priority gets, first match wins in this order."""

    RUNNING = "running"  # the run in progress is on it
    BLOCKED = "blocked"  # the daemon gave up on it (max_attempts) until reset
    AWAITING_REVIEW = "awaiting_review"  # its pull request (or branch) waits for a person
    NEXT = "next"  # the daemon takes this one next
    HELD = "held"  # Planned, but the daemon does not pick it on its own (``held``)
    WAITING = "waiting"  # Planned, its dependencies are not all complete
    NONE = "none"


@dataclass(frozen=True)
class PriorityView:
    """One priority: the roadmap's facts, the state's record, and its note."""

    id: str
    ref: str  # ID@LINE when several headings share the id
    title: str
    status: str  # the roadmap's status, e.g. "Planned"
    dependencies: tuple[str, ...]
    held: tuple[str, ...]  # why the daemon does not pick it on its own
    note: NoteKind
    note_text: str  # blocked: the reason; awaiting review: where; waiting: on what
    is_next: bool
    waiting_for: tuple[str, ...]
    attempts: int
    last_outcome: str | None
    last_error: str | None
    last_run_at: str | None
    blocked: bool
    blocked_reason: str | None
    branch: str | None
    pr_url: str | None
    verdict: str | None
    running_step: str | None = None  # when the run in progress is on it
    running_provider: str | None = None
    cost: float = 0.0  # USD the ledger recorded for its runs in this repository

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; tuples as lists, the note kind as its value."""
        data = asdict(self)
        data["note"] = self.note.value
        for key in ("dependencies", "held", "waiting_for"):
            data[key] = list(data[key])
        return data


def _note(
    priority: Priority,
    record: dict[str, Any],
    *,
    running: bool,
    is_next: bool,
    waiting_for: list[str],
) -> tuple[NoteKind, str]:
    planned = priority.status is Status.PLANNED
    if running:
        return NoteKind.RUNNING, ""
    if record.get("blocked"):
        return NoteKind.BLOCKED, record.get("blocked_reason") or ""
    if priority.status is not Status.COMPLETE and (review := review_note(record)):
        return NoteKind.AWAITING_REVIEW, review
    if is_next:
        return NoteKind.NEXT, ""
    if planned and priority.held:
        return NoteKind.HELD, priority.held[0]
    if planned and waiting_for:
        return NoteKind.WAITING, ", ".join(waiting_for)
    return NoteKind.NONE, ""


def priority_views(
    roadmap: Roadmap, state: RepoState, costs: Mapping[str, float] | None = None
) -> list[PriorityView]:
    """Every priority of ``roadmap``, in order, with what ``state`` remembers of it;
    ``costs``: USD per priority id, when the caller read the ledger."""
    following = roadmap.next_planned(skip=lambda p: state.is_skipped(p.id))
    current = state.current or {}
    views = []
    for priority in roadmap:
        record = state.record(priority.id)
        waiting_for = [d for d in priority.dependencies if not roadmap.is_complete(d)]
        running = current.get("priority") == priority.id
        is_next = following is not None and priority is following
        kind, text = _note(
            priority, record, running=running, is_next=is_next, waiting_for=waiting_for
        )
        views.append(
            PriorityView(
                id=priority.id,
                ref=priority.ref,
                title=priority.title,
                status=priority.status.value,
                dependencies=tuple(priority.dependencies),
                held=tuple(priority.held),
                note=kind,
                note_text=text,
                is_next=is_next,
                waiting_for=tuple(waiting_for),
                attempts=record.get("attempts", 0) or 0,
                last_outcome=record.get("last_outcome"),
                last_error=record.get("last_error"),
                last_run_at=record.get("last_run_at"),
                blocked=bool(record.get("blocked")),
                blocked_reason=record.get("blocked_reason"),
                branch=record.get("branch"),
                pr_url=record.get("pr_url"),
                verdict=record.get("verdict"),
                running_step=(current.get("step") or "started") if running else None,
                running_provider=current.get("provider") if running else None,
                cost=round((costs or {}).get(priority.id, 0.0), 6),
            )
        )
    return views
