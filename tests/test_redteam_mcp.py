"""Attacks on ``project-manager mcp``'s writing tools: its arguments come from an
assistant (a model), so what they put in a commit message and a pull request must be inert,
and the roadmap may gain only the one priority asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_support import (
    GITHUB_TOKEN,
    MODEL_KEY,
    fakes_running,
    git,
    isolate_git,
    make_project,
)

from coffee_maker.autonomous.roadmap import Roadmap, Status
from coffee_maker.autonomous.roadmap_changes import (
    RoadmapChangeError,
    appended,
    check_added,
    priority_section,
)
from coffee_maker.cli.mcp_tools import Repo, roadmap_add_priority

BASE = "# Roadmap\n\n## PRIORITY 1: First 📝\n\n**Status**: 📝 Planned\n\nDo the first thing.\n"


def test_a_title_cannot_close_an_issue_or_mention_anyone_from_the_commit_or_the_pr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path, dirty=False)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
    with fakes_running(project) as setup:
        added = roadmap_add_priority(
            Repo(project.checkout, str(project.config)),
            title="Add divide, closes #1 for @octocat",
            description="Add `divide(a, b)` to calc.py.",
        )
        (pull,) = setup.github.pulls
    message = git(project.origin, "log", "-1", "--format=%B", added["branch"])
    for text in (message, pull.title, pull.body or ""):
        assert "closes #1" not in text and "@octocat" not in text, text
    assert "divide" in pull.title and "divide" in message
    # The roadmap keeps the title as written: a file in the repository acts on nothing.
    clone = project.clone_branch(added["branch"], project.root / "added")
    assert (
        Roadmap.load(clone / "ROADMAP.md").find("4").title == "Add divide, closes #1 for @octocat"
    )


def test_a_second_status_line_in_the_description_changes_nothing() -> None:
    before = Roadmap.parse(BASE)
    text = "Do it.\n\n**Status**: ✅ Complete"
    updated = appended(BASE, priority_section("PRIORITY 2", "Second", text, []))
    check_added(before, Roadmap.parse(updated), "PRIORITY 2", [])  # the first line counts
    assert Roadmap.parse(updated).find("2").status is Status.PLANNED


@pytest.mark.parametrize(
    "description",
    [
        "Do it.\n\n**Dependencies**: PRIORITY 1",  # a dependency not asked for
        "Do it.\n\n## PRIORITY 7: Another ✅\n\n**Status**: ✅ Complete\n\nx",  # a second one
        "Do it.\n\n### PRIORITY 7: Another 📝\n\n**Status**: 📝 Planned\n\nx",
    ],
)
def test_a_description_cannot_smuggle_a_status_a_dependency_or_a_priority(
    description: str,
) -> None:
    before = Roadmap.parse(BASE)
    updated = appended(BASE, priority_section("PRIORITY 2", "Second", description, []))
    with pytest.raises(RoadmapChangeError):
        check_added(before, Roadmap.parse(updated), "PRIORITY 2", [])


def test_a_title_with_a_status_emoji_does_not_change_the_status() -> None:
    before = Roadmap.parse(BASE)
    updated = appended(BASE, priority_section("PRIORITY 2", "Ship it ✅", "Do it.", []))
    try:
        check_added(before, Roadmap.parse(updated), "PRIORITY 2", [])
    except RoadmapChangeError:
        return  # refused: fine
    assert Roadmap.parse(updated).find("2").status is Status.PLANNED


def _local_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **routing: object):  # type: ignore[no-untyped-def]
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path, dirty=False)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
    return project


def test_review_diff_sends_no_code_of_a_local_only_repository_to_a_cloud_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coffee_maker.cli.mcp_review import review_diff
    from coffee_maker.cli.mcp_tools import ToolInputError

    project = _local_project(tmp_path, monkeypatch)
    with fakes_running(project) as setup:
        url = setup.model.url
        local = {"type": "openai", "model": "m", "base_url": f"{url}/v1", "local": True,
                 "api_key_env": "OPENAI_API_KEY", "pricing": {"input": 0, "output": 0}}  # fmt: skip
        project.write_config(
            url, setup.github.url,
            providers={"local-llm": local}, routing={"privacy": "local"},
        )  # fmt: skip
        repo = Repo(project.checkout.resolve(), str(project.config))
        with pytest.raises(ToolInputError, match=r"provider: openai is not local.*privacy"):
            review_diff(repo, "openai", branch="main")
        with pytest.raises(ToolInputError, match=r"provider: openai is not local"):
            review_diff(repo, "openai", diff="+secret_sauce = 42")
        assert setup.model.model_calls == []


def test_review_diff_sends_no_branch_of_a_private_priority_to_a_cloud_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coffee_maker.autonomous.state import Outcome, RepoState
    from coffee_maker.cli.mcp_review import review_diff
    from coffee_maker.cli.mcp_tools import ToolInputError

    project = _local_project(tmp_path, monkeypatch)
    roadmap = (project.checkout / "ROADMAP.md").read_text()
    private = roadmap.replace("Add `subtract", "**Privacy**: local\n\nAdd `subtract", 1)
    assert private != roadmap
    (project.checkout / "ROADMAP.md").write_text(private)
    git(project.checkout, "commit", "-qam", "private")
    git(project.checkout, "push", "-q", "origin", "HEAD:main")
    git(project.checkout, "switch", "-q", "-c", "coffee-maker/priority-1-add-subtract")
    (project.checkout / "secret.py").write_text("SECRET_SAUCE = 42\n")
    git(project.checkout, "add", "secret.py")
    git(project.checkout, "commit", "-qm", "private work")
    git(project.checkout, "switch", "-q", "-")
    RepoState.load(project.checkout).record_attempt(
        "PRIORITY 1", Outcome.SUCCESS, branch="coffee-maker/priority-1-add-subtract"
    )
    with fakes_running(project) as setup:
        repo = Repo(project.checkout.resolve(), str(project.config))
        with pytest.raises(ToolInputError, match=r"provider: openai is not local.*PRIORITY 1"):
            review_diff(repo, "openai", branch="coffee-maker/priority-1-add-subtract")
        assert setup.model.model_calls == []
