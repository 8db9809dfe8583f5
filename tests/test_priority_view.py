"""One typed view of each priority, rendered by ``code-developer status`` and
``project-manager roadmap``: the note a priority gets is decided once, so the two commands
cannot disagree about what is blocked, awaiting review, running, next or waiting."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from coffee_maker.autonomous.priority_view import NoteKind, priority_views
from coffee_maker.autonomous.roadmap import Roadmap
from coffee_maker.autonomous.state import Outcome, RepoState

ROADMAP = """# Roadmap

## PRIORITY 1: Blocked one

**Status**: Planned

## PRIORITY 2: Reviewed

**Status**: Planned

## PRIORITY 3: Running

**Status**: In Progress

## PRIORITY 4: Next one

**Status**: Planned

## PRIORITY 5: Waits

**Status**: Planned
**Dependencies**: PRIORITY 4

## PRIORITY 6: Done

**Status**: Complete
"""

EXPECTED = {
    "PRIORITY 1": NoteKind.BLOCKED,
    "PRIORITY 2": NoteKind.AWAITING_REVIEW,
    "PRIORITY 3": NoteKind.RUNNING,
    "PRIORITY 4": NoteKind.NEXT,
    "PRIORITY 5": NoteKind.WAITING,
    "PRIORITY 6": NoteKind.NONE,
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository without a remote (the roadmap command then reads the checkout's file)
    and a state with a block, a PR awaiting review and a run in progress."""
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "ROADMAP.md").write_text(ROADMAP)
    state = RepoState.load(repo)
    for _ in range(2):
        state.record_attempt("PRIORITY 1", Outcome.FAILURE, "the tests fail", max_attempts=2)
    state.record_attempt("PRIORITY 2", Outcome.SUCCESS, pr_url="https://example.test/pull/9")
    state.set_current("PRIORITY 3", "agent", provider="openai")
    return repo


def test_one_view_decides_each_priority_s_note(repo: Path) -> None:
    views = priority_views(
        Roadmap.load(repo / "ROADMAP.md"), RepoState.load(repo), {"PRIORITY 2": 0.25}
    )
    assert {v.id: v.note for v in views} == EXPECTED
    by_id = {v.id: v for v in views}
    assert by_id["PRIORITY 1"].note_text == "failed 2 times; last error: the tests fail"
    assert by_id["PRIORITY 2"].note_text == "awaiting review (passed): https://example.test/pull/9"
    assert by_id["PRIORITY 2"].pr_url == "https://example.test/pull/9"
    assert by_id["PRIORITY 2"].cost == 0.25
    assert (by_id["PRIORITY 3"].running_step, by_id["PRIORITY 3"].running_provider) == (
        "agent",
        "openai",
    )
    assert by_id["PRIORITY 4"].is_next and by_id["PRIORITY 5"].waiting_for == ("PRIORITY 4",)
    assert json.loads(json.dumps(by_id["PRIORITY 5"].to_dict()))["note"] == "waiting"


def test_status_and_roadmap_word_the_same_view(repo: Path) -> None:
    from coffee_maker.cli.daemon_status import _note
    from coffee_maker.cli.roadmap_command import notes_for

    views = priority_views(Roadmap.load(repo / "ROADMAP.md"), RepoState.load(repo))
    roadmap_notes = notes_for(views)
    assert roadmap_notes == {
        "PRIORITY 1": "blocked by the daemon: failed 2 times; last error: the tests fail",
        "PRIORITY 2": "awaiting review (passed): https://example.test/pull/9",
        "PRIORITY 3": "running: agent with openai",
        "PRIORITY 4": "NEXT: the daemon takes this one",
        "PRIORITY 5": "waiting for PRIORITY 4",
    }
    rows = []
    for view in views:
        row = view.to_dict()
        rows.append((view.id, _note(row)))
    assert dict(rows) == {
        "PRIORITY 1": "[red]blocked: failed 2 times; last error: the tests fail[/]",
        "PRIORITY 2": "awaiting review (passed): https://example.test/pull/9",
        "PRIORITY 3": "[bold green]working on it now[/]",
        "PRIORITY 4": "[bold]next[/]",
        "PRIORITY 5": "waits for PRIORITY 4",
        "PRIORITY 6": "",
    }
