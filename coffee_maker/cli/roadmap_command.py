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
    from coffee_maker.autonomous.priority_view import PriorityView
    from coffee_maker.autonomous.roadmap import Roadmap
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


def notes_for(views: list[PriorityView]) -> dict[str, str]:
    """This command's words for each priority's note (keyed by ``ref``); which note a
    priority gets is ``priority_view``'s to say, as it is for ``code-developer status``."""
    notes: dict[str, str] = {}
    for view in views:
        kind, text = view.note.value, view.note_text
        if kind == "running":
            via = f" with {view.running_provider}" if view.running_provider else ""
            notes[view.ref] = f"running: {view.running_step}{via}"
        elif kind == "blocked":
            notes[view.ref] = f"blocked by the daemon: {text or 'blocked'}"
        elif kind == "awaiting_review":
            notes[view.ref] = text
        elif kind == "next":
            notes[view.ref] = "NEXT: the daemon takes this one"
        elif kind == "held":
            notes[view.ref] = f"held: {text}; run it with --priority"
        elif kind == "waiting":
            notes[view.ref] = f"waiting for {text}"
    return notes


def _print(plan: Roadmap, state: RepoState, path: Path) -> None:
    from rich.table import Table

    from coffee_maker.autonomous.priority_view import priority_views
    from coffee_maker.cli.common import make_console
    from coffee_maker.wording import count_of

    views = priority_views(plan, state)
    notes = notes_for(views)

    title = f"{path}: {count_of(len(plan), 'priority')}"
    table = Table(title=escape(title), title_justify="left")
    for column in ("id", "title", "status", "depends on", "attempts", "note"):
        table.add_column(column, justify="right" if column == "attempts" else "left")
    for view in views:
        table.add_row(*_cells(view, notes.get(view.ref, "")))
    console = make_console()
    console.print(table)
    if not any(view.is_next for view in views):
        console.print("Nothing to do: no Planned priority has all its dependencies complete.")


def _cells(view: PriorityView, note: str) -> list[str]:
    style = _STATUS_STYLE.get(view.status, "")
    note = escape(note)
    if note.startswith("NEXT"):
        note = f"[bold green]{note}[/]"
    elif note.startswith(("blocked", "held")):
        note = f"[red]{note}[/]"
    return [
        escape(view.ref),
        escape(view.title),
        f"[{style}]{view.status}[/]" if style else view.status,
        escape(", ".join(view.dependencies) or "-"),
        str(view.attempts),
        note,
    ]
