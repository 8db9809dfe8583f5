"""``project-manager mcp`` driven by the ``mcp`` SDK's own stdio client.

Every tool is listed and called with good arguments (answers checked against the
command-line views, the bare origin and the fake GitHub) and with malformed ones (one
clear error each, nothing written anywhere); no answer carries a secret.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import anyio
import pytest
from daemon_support import (
    CODE_DEVELOPER,
    GITHUB_REPO,
    MODEL,
    Project,
    fakes_running,
    git,
    isolate_git,
    make_project,
    snapshot,
)
from mcp_support import (
    PLANTED,
    PROJECT_MANAGER,
    SECRETS,
    TOOLS,
    data_of,
    origin_refs,
    plant_secrets,
    session,
    text_of,
)

from coffee_maker.ai_providers.provider_config import load_config
from coffee_maker.autonomous.repo_lock import RepoLock
from coffee_maker.autonomous.roadmap import Roadmap, Status
from coffee_maker.autonomous.run_endings import RunOptions

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    plant_secrets(project)
    return project


def _no_secret(texts: list[str]) -> None:
    joined = "\n".join(texts)
    for secret in SECRETS:
        assert secret not in joined


def test_every_tool_answers_from_the_daemons_own_views(project: Project) -> None:
    before = snapshot(project.checkout)
    seen: list[str] = []
    with fakes_running(project) as setup:
        setup.model.reply_text(f"Looks right; but I saw {PLANTED} in the diff.")
        env = project.env(PLANTED_API_KEY=PLANTED)
        where = ["--repo", str(project.checkout), "--config", str(project.config)]
        status_cli = subprocess.run(
            [CODE_DEVELOPER, "status", "--json", *where],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        providers_cli = subprocess.run(
            [PROJECT_MANAGER, "provider", "status", "--json", *where, "--timeout", "5"],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

        async def calls() -> dict[str, object]:
            answers: dict[str, object] = {}
            async with session(project, env) as s:
                listed = await s.list_tools()
                answers["tools"] = {t.name: t for t in listed.tools}
                for name, args in [
                    ("roadmap_list", {}),
                    ("daemon_status", {}),
                    ("route_explain", {"priority": "2"}),
                    ("provider_status", {"timeout": 5}),
                    ("review_diff", {"provider": "openai", "diff": "+def divide(a, b): ..."}),
                    ("costs", {"days": 3, "by": "provider"}),
                    ("roadmap_add_priority", {
                        "title": "Add divide", "description": "Add `divide(a, b)` to calc.py.",
                        "dependencies": ["1"]}),
                    ("roadmap_set_status", {"priority": "3", "status": "Blocked"}),
                ]:  # fmt: skip
                    result = await s.call_tool(name, args)
                    seen.append(text_of(result))
                    answers[name] = data_of(result)
                for uri in ("coffee-maker://roadmap", "coffee-maker://costs"):
                    content = await s.read_resource(uri)
                    answers[uri] = json.loads(content.contents[0].text)
                    seen.append(content.contents[0].text)
                content = await s.read_resource("coffee-maker://transcripts/2")
                answers["transcript"] = content.contents[0].text
                seen.append(answers["transcript"])
            return answers

        answers = anyio.run(calls)
        pulls, github_url = list(setup.github.pulls), setup.github.url

    tools = answers["tools"]
    assert set(tools) == TOOLS
    read_only = ("roadmap_list", "daemon_status", "provider_status", "costs", "review_diff")
    for name in (*read_only, "route_explain"):
        assert tools[name].annotations.read_only_hint, name
    for name in ("roadmap_add_priority", "roadmap_set_status", "run_priority"):
        assert not tools[name].annotations.read_only_hint, name

    listed = answers["roadmap_list"]
    assert listed["next"] == "PRIORITY 1"
    assert [p["id"] for p in listed["priorities"]] == ["PRIORITY 1", "PRIORITY 2", "PRIORITY 3"]
    assert answers["coffee-maker://roadmap"]["priorities"] == listed["priorities"]
    route = answers["route_explain"]  # without a routing: section, the plain chain
    assert (route["priority"], route["routed"], route["refused"]) == ("PRIORITY 2", False, None)

    assert status_cli.returncode == 0, status_cli.stderr
    assert answers["daemon_status"] == json.loads(status_cli.stdout)
    assert answers["daemon_status"]["running"] is False

    cli_rows = json.loads(providers_cli.stdout)["providers"]
    rows = answers["provider_status"]["providers"]
    assert [(r["name"], r["usable"], r["model"]) for r in rows] == [
        (r["name"], r["usable"], r["model"]) for r in cli_rows
    ]

    review = answers["review_diff"]
    assert review["provider"] == "openai" and review["model"] == MODEL
    assert review["review"].startswith("Looks right") and review["cost"] > 0
    assert "+def divide" in json.dumps(setup.model.model_calls[0].json)
    calls = project.calls()
    assert [(c["provider"], c["outcome"]) for c in calls] == [("openai", "ok")]
    assert answers["costs"]["groups"]["openai"]["requests"] == 1
    assert answers["coffee-maker://costs"]["by_provider"]["openai"]["requests"] == 1

    added = answers["roadmap_add_priority"]
    assert added["branch"] == "coffee-maker/roadmap/add-priority-4-add-divide"
    assert added["pr_url"] == f"{github_url}/{GITHUB_REPO}/pull/{added['pr_number']}"
    clone = project.clone_branch(added["branch"], project.root / "added")
    roadmap = Roadmap.load(clone / "ROADMAP.md")
    new = roadmap.find("PRIORITY 4")
    assert (new.title, new.status) == ("Add divide", Status.PLANNED)
    assert new.dependencies == ["PRIORITY 1"]
    assert not roadmap.warnings and len(roadmap) == 4
    assert "Add `divide(a, b)` to calc.py." in new.section_text

    changed = answers["roadmap_set_status"]
    clone = project.clone_branch(changed["branch"], project.root / "changed")
    assert Roadmap.load(clone / "ROADMAP.md").find("3").status is Status.BLOCKED
    assert sorted(p.head for p in pulls) == sorted([added["branch"], changed["branch"]])
    assert all(p.base == "main" for p in pulls)

    assert git(project.checkout, "branch", "--list", "coffee-maker/*") == ""  # only pushed
    assert "Add multiply" in answers["transcript"]
    assert snapshot(project.checkout) == before  # the user's checkout: not one byte
    _no_secret(seen)


def test_run_priority_is_taken_by_the_daemons_next_selection(project: Project) -> None:
    from coffee_maker.autonomous.iteration import Iteration

    requests = project.checkout / ".git" / "coffee-maker" / "run-request.json"
    with fakes_running(project):
        env = project.env()

        async def ask() -> tuple[str, str]:
            async with session(project, env) as s:
                alone = await s.call_tool("run_priority", {"priority": "3"})
                assert not requests.exists()  # no daemon: nothing written
                with RepoLock(project.checkout):  # a daemon holds the repository now
                    taken = await s.call_tool("run_priority", {"priority": "3"})
            return text_of(alone), data_of(taken)

        alone, taken = anyio.run(ask)
        assert "no daemon is running" in alone
        assert taken["requested"] == "PRIORITY 3"
        config = load_config(str(project.config))
        roadmap = Roadmap.load(project.checkout / "ROADMAP.md")
        dry = Iteration(config, RunOptions(repo=project.checkout, dry_run=True))
        assert dry.select(roadmap).id == "PRIORITY 3" and requests.exists()  # only looked
        iteration = Iteration(config, RunOptions(repo=project.checkout))
        assert iteration.select(roadmap).id == "PRIORITY 3"  # instead of PRIORITY 1
        assert not requests.exists()
        assert iteration.select(roadmap).id == "PRIORITY 1"  # taken once


MALFORMED = [
    ("roadmap_add_priority", {}),
    ("roadmap_add_priority", {"title": "", "description": "x"}),
    ("roadmap_add_priority", {"title": "two\nlines", "description": "x"}),
    ("roadmap_add_priority", {"title": 5, "description": "x"}),
    ("roadmap_add_priority", {"title": "T", "description": "x", "dependencies": ["PRIORITY 9"]}),
    ("roadmap_add_priority", {"title": "T", "description": "x", "dependencies": ["nonsense"]}),
    ("roadmap_add_priority", {"title": "T", "description": "x", "priority_id": "PRIORITY 1"}),
    ("roadmap_add_priority", {"title": "T", "description": "ok\n\n## PRIORITY 9: sneaky\n\nx"}),
    ("roadmap_add_priority", {"title": "T", "description": "   "}),
    ("roadmap_set_status", {"priority": "1", "status": "Done"}),
    ("roadmap_set_status", {"priority": "PRIORITY 42", "status": "Complete"}),
    ("roadmap_set_status", {"priority": "1", "status": "Planned"}),
    ("run_priority", {"priority": "bogus"}),
    ("run_priority", {}),
    ("provider_status", {"timeout": -1}),
    ("provider_status", {"timeout": "soon"}),
    ("costs", {"days": 0}),
    ("costs", {"by": "week"}),
    ("review_diff", {"provider": "nope", "diff": "+x"}),
    ("review_diff", {"provider": "openai"}),
    ("review_diff", {"provider": "openai", "diff": "+x", "branch": "main"}),
    ("review_diff", {"provider": "openai", "branch": "no-such-branch"}),
    ("review_diff", {"provider": "openai", "branch": "../../etc"}),
    ("review_diff", {"provider": "openai", "diff": "+x", "max_tokens": 10**9}),
    ("route_explain", {"priority": "PRIORITY 99"}),
    ("route_explain", {"priority": "x\nPRIORITY 1"}),
]


def test_malformed_calls_are_one_clear_error_and_write_nothing(project: Project) -> None:
    before = snapshot(project.checkout)
    refs = origin_refs(project)
    state_dir = project.checkout / ".git" / "coffee-maker"
    state = (state_dir / "state.json").read_bytes()
    with fakes_running(project) as setup:
        env = project.env(PLANTED_API_KEY=PLANTED)

        async def calls() -> list[tuple[str, bool, str]]:
            async with session(project, env) as s:
                with RepoLock(project.checkout):  # even with a daemon to ask
                    return [
                        (name, (r := await s.call_tool(name, args)).is_error, text_of(r))
                        for name, args in MALFORMED
                    ]

        results = anyio.run(calls)
        assert setup.github.pulls == [] and setup.model.model_calls == []
    for (name, args), (_, is_error, text) in zip(MALFORMED, results, strict=True):
        assert is_error, (name, args, text)
        assert "Traceback" not in text and text.strip(), (name, args)
        assert len(text) < 1500, (name, text)
    said = [text for _, _, text in results]
    assert "already in the roadmap" in said[6]
    assert "exactly one priority" in said[7]  # a heading smuggled in the description
    assert "no PRIORITY 9" in said[4]
    assert "configured: openai" in said[18]
    assert "exactly one of diff" in said[19] and "exactly one of diff" in said[20]
    assert "already Planned" in said[11]
    assert "not a branch name" in said[22]
    assert origin_refs(project) == refs
    assert git(project.checkout, "branch", "--list", "coffee-maker/*") == ""
    assert not (state_dir / "run-request.json").exists()
    assert (state_dir / "state.json").read_bytes() == state
    assert project.calls() == []
    assert snapshot(project.checkout) == before
    _no_secret([t for _, _, t in results])
