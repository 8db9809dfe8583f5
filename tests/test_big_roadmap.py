"""A 33,075-line roadmap with twelve repeated ids, through the parser and the real CLI.

The roadmap of the project this one grew from was refused whole because a few archive
headings repeat an id. Now each repeat is one warning naming every line, no repeated id
is picked on its own, ``--priority`` on one is a one-line error saying how to name one
(``ID@LINE``), and naming one by line runs it and marks exactly that heading complete.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from big_roadmap import NEXT, REPEATED, BigRoadmap, big_roadmap
from daemon_support import (
    GITHUB_REPO,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    Project,
    git,
    make_project,
    write_usage_note,
)

from coffee_maker.autonomous.roadmap import Roadmap, Status
from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI

BIG = big_roadmap()
SEVEN_ACTIVE, SEVEN_ARCHIVED = BIG.repeated["PRIORITY 7"]


def expected_warnings(big: BigRoadmap, path: str) -> list[str]:
    out = []
    for pid, lines in sorted(big.repeated.items(), key=lambda item: item[1][1]):
        joined = ", ".join(map(str, lines))
        out.append(
            f"{path}:{lines[1]}: duplicate id {pid}: headings at lines {joined}; the daemon "
            f"picks none of them on its own; run one with --priority '{pid}@{lines[1]}'"
        )
    return out


def test_the_parser_warns_once_per_repeated_id_and_holds_them_all() -> None:
    assert BIG.lines == 33_075 and sorted(BIG.repeated) == sorted(REPEATED)
    roadmap = Roadmap.parse(BIG.text)
    assert roadmap.warnings == expected_warnings(BIG, "ROADMAP.md")
    assert roadmap.next_planned().id == NEXT
    for pid, lines in BIG.repeated.items():
        assert [p.line for p in roadmap if p.id == pid] == lines
        assert all(p.held and p.ref == f"{pid}@{p.line}" for p in roadmap if p.id == pid)
    assert not roadmap.is_complete("PRIORITY 7")  # the archived one is, the active one not
    assert roadmap.get("PRIORITY 30").dependencies == ["PRIORITY 7", "PRIORITY 29"]


@pytest.fixture
def big(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    """The e2e project with the big roadmap on origin's main (and fetched)."""
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    project = make_project(tmp_path)
    seed = tmp_path / "seed"
    (seed / "ROADMAP.md").write_text(BIG.text)
    git(seed, "commit", "-qam", "a long-lived roadmap")
    git(seed, "push", "-q", str(project.origin), "main")
    git(project.checkout, "fetch", "-q", "origin")
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github,
    ):
        project.write_config(model.url, github.url)
        yield project, model, github


def duplicate_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "duplicate id" in line]


def test_dry_run_picks_the_right_priority_and_names_every_repeat(big: tuple) -> None:
    project, model, _ = big
    plan = project.run("--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert f"priority: {NEXT}: Feature 31 (status Planned)" in plan.stdout
    warned = duplicate_lines(plan.stderr)
    assert len(warned) == 12  # once each, though the roadmap is read more than once
    for warning in expected_warnings(BIG, "main:ROADMAP.md"):
        assert sum(json.dumps(warning)[1:-1] in line for line in warned) == 1, warning
    assert model.requests == []


def test_priority_on_a_repeated_id_is_one_line_naming_the_lines(big: tuple) -> None:
    project, model, _ = big
    ambiguous = project.run("--dry-run", "--priority", "7")
    assert ambiguous.returncode == 2
    assert ambiguous.stderr.splitlines() == [
        f"code-developer: --priority PRIORITY 7: PRIORITY 7 is ambiguous in main:ROADMAP.md: "
        f"headings at lines {SEVEN_ACTIVE}, {SEVEN_ARCHIVED}; name one as "
        f"'PRIORITY 7@{SEVEN_ARCHIVED}'"
    ]
    for ref in (f"PRIORITY 7@{SEVEN_ACTIVE}", f"@{SEVEN_ACTIVE}", f"priority 7 @ {SEVEN_ACTIVE}"):
        named = project.run("--dry-run", "--priority", ref)
        assert named.returncode == 0, named.stderr
        assert "priority: PRIORITY 7: Feature 7 (status Planned)" in named.stdout
    wrong = project.run("--dry-run", "--priority", "PRIORITY 7@12")
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines() == [
        "code-developer: --priority PRIORITY 7@12: no PRIORITY 7 heading at line 12 of "
        f"main:ROADMAP.md (PRIORITY 7 is at line {SEVEN_ACTIVE}, {SEVEN_ARCHIVED})"
    ]
    assert model.requests == []


def cli(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    env = project.env(COLUMNS="400")  # rich wraps at the terminal width otherwise
    command = [str(Path(sys.executable).with_name(args[0])), *args[1:]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_roadmap_and_status_show_the_warnings_once(big: tuple) -> None:
    project, _, _ = big
    repo, config = str(project.checkout), str(project.config)
    shown = cli(project, "project-manager", "roadmap", "--repo", repo, "--config", config)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr.splitlines() == [
        f"project-manager: warning: {w}" for w in expected_warnings(BIG, "main:ROADMAP.md")
    ]
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if "│" in line}
    assert "NEXT" in rows[NEXT]
    assert "held: duplicate id" in rows[f"PRIORITY 7@{SEVEN_ACTIVE}"]
    assert "waiting for PRIORITY 7" in rows["PRIORITY 30"]

    status = cli(project, "code-developer", "status", "--repo", repo, "--config", config)
    assert status.returncode == 0, status.stderr
    said = [line for line in status.stdout.splitlines() if "roadmap warning:" in line]
    assert said == [f"roadmap warning: {w}" for w in expected_warnings(BIG, "main:ROADMAP.md")]
    as_json = cli(project, "code-developer", "status", "--json", "--repo", repo, "--config", config)
    data = json.loads(as_json.stdout)
    assert data["roadmap_warnings"] == expected_warnings(BIG, "main:ROADMAP.md")
    assert [row["id"] for row in data["priorities"] if row["next"]] == [NEXT]


def test_once_on_a_priority_named_by_line_marks_exactly_that_heading(
    big: tuple, tmp_path: Path
) -> None:
    project, model, github = big
    model.script(write_usage_note())
    done = project.run("--once", "--priority", f"PRIORITY 7@{SEVEN_ACTIVE}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PRIORITY 7: opened pull request" in done.stdout
    assert "Feature 7" in model.model_calls[0].body.decode()
    branch = next(b for b in os.listdir(project.origin / "refs" / "heads" / "coffee-maker"))
    clone = project.clone_branch(f"coffee-maker/{branch}", tmp_path / "review")
    after = (clone / "ROADMAP.md").read_text().split("\n")
    before = BIG.text.split("\n")
    changed = [(i + 1, a, b) for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [(SEVEN_ACTIVE + 3, "**Status**: 📝 Planned", "**Status**: ✅ Complete")]
    marked = Roadmap.parse("\n".join(after))
    assert [p.status for p in marked if p.id == "PRIORITY 7"] == [Status.COMPLETE] * 2
    assert marked.next_planned().id == "PRIORITY 30"  # every PRIORITY 7 is complete now
    assert len(github.pulls) == 1
