"""``project-manager roadmap``: the priorities as the daemon sees them, and which is next.

The roadmap alone does not say what the daemon will do: a priority it failed on
``max_attempts`` times is blocked in its state, not in the file. This view joins the two,
using the daemon's own parser and state, so it cannot disagree with the daemon.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from coffee_maker.cli.common import EXIT_OK, EXIT_USAGE, error_line, load_app_config

if TYPE_CHECKING:
    from coffee_maker.autonomous.roadmap import Priority, Roadmap
    from coffee_maker.autonomous.state import RepoState

_STATUS_STYLE = {"Planned": "cyan", "In Progress": "yellow", "Complete": "green", "Blocked": "red"}


def roadmap(args: argparse.Namespace) -> int:
    from coffee_maker.autonomous.git_ops import GitError
    from coffee_maker.autonomous.planning import load_base_roadmap
    from coffee_maker.autonomous.roadmap import Roadmap, RoadmapError
    from coffee_maker.autonomous.state import RepoState

    config = load_app_config(args.config, args.repo)
    repo = Path(args.repo)
    path = repo / config.daemon.roadmap
    try:
        try:  # what the daemon reads: the base branch's roadmap
            plan = load_base_roadmap(repo, config)
        except GitError:  # no base branch yet: the file in the checkout
            plan = Roadmap.load(path)
    except RoadmapError as exc:
        for problem in exc.problems:
            error_line(f"project-manager: {problem}")
        return EXIT_USAGE
    state = RepoState.load(repo)
    for warning in plan.warnings:  # on stderr, so the table on stdout stays clean
        error_line(f"project-manager: warning: {warning}")
    _print(plan, state, path)
    _print_tests(config, repo)
    return EXIT_OK


def _print_tests(config: Any, repo: Path) -> None:
    """How the daemon will verify a change here: the test command and why it was chosen."""
    from coffee_maker.autonomous.detection import choose_tests
    from coffee_maker.cli.common import make_console

    tests = choose_tests(config, repo)
    make_console().print(escape(f"tests: {tests.command or 'none'} ({tests.reason})"))


def notes_for(plan: Roadmap, state: RepoState) -> dict[str, str]:
    """One note per priority that needs one (keyed by ``ref``): next, running, blocked
    (why), held (why the daemon will not pick it on its own), waiting (on what)."""
    from coffee_maker.autonomous.roadmap import Status
    from coffee_maker.autonomous.state import review_note

    following = plan.next_planned(skip=lambda p: state.is_skipped(p.id))
    current = state.current or {}
    notes: dict[str, str] = {}
    for priority in plan:
        record = state.record(priority.id)
        if current.get("priority") == priority.id:
            via = f" with {current['provider']}" if current.get("provider") else ""
            notes[priority.ref] = f"running: {current.get('step') or 'started'}{via}"
        elif state.is_blocked(priority.id):
            reason = record.get("blocked_reason") or "blocked"
            notes[priority.ref] = f"blocked by the daemon: {reason}"
        elif priority.status is not Status.COMPLETE and (note := review_note(record)):
            notes[priority.ref] = note
        elif priority is following:
            notes[priority.ref] = "NEXT: the daemon takes this one"
        elif priority.status is Status.PLANNED and priority.held:
            notes[priority.ref] = f"held: {priority.held[0]}; run it with --priority"
        elif priority.status is Status.PLANNED:
            waiting = [d for d in priority.dependencies if not plan.is_complete(d)]
            if waiting:
                notes[priority.ref] = "waiting for " + ", ".join(waiting)
    return notes


def _print(plan: Roadmap, state: RepoState, path: Path) -> None:
    from rich.table import Table

    from coffee_maker.cli.common import make_console

    notes = notes_for(plan, state)
    from coffee_maker.wording import count_of

    title = f"{path}: {count_of(len(plan), 'priority')}"
    table = Table(title=escape(title), title_justify="left")
    for column in ("id", "title", "status", "depends on", "attempts", "note"):
        table.add_column(column, justify="right" if column == "attempts" else "left")
    for priority in plan:
        table.add_row(*_cells(priority, state.record(priority.id), notes.get(priority.ref, "")))
    console = make_console()
    console.print(table)
    if not any(note.startswith("NEXT") for note in notes.values()):
        console.print("Nothing to do: no Planned priority has all its dependencies complete.")


def _cells(priority: Priority, record: dict[str, Any], note: str) -> list[str]:
    status = priority.status.value
    style = _STATUS_STYLE.get(status, "")
    attempts = str(record.get("attempts") or 0)
    note = escape(note)
    if note.startswith("NEXT"):
        note = f"[bold green]{note}[/]"
    elif note.startswith(("blocked", "held")):
        note = f"[red]{note}[/]"
    return [
        escape(priority.ref),
        escape(priority.title),
        f"[{style}]{status}[/]" if style else status,
        escape(", ".join(priority.dependencies) or "-"),
        attempts,
        note,
    ]
