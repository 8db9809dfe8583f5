"""``code-developer --once`` with a model whose every output is hostile (issue 10, items 4
and 5): a summary and file names built to notify, inject HTML, break out of code blocks,
close issues, reveal local paths and flood the PR; a write to a CI workflow through the
tools; and a test that plants a workflow file directly in the worktree when it runs, as
an agentic CLI would. The PR that comes out is inert and bounded, the workflow is not in
the commit, and the commit's trailers are last.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import (
    GITHUB_REPO,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    SUBTRACT,
    SUBTRACT_BRANCH,
    SUBTRACT_TEST,
    Project,
    git,
    make_project,
    turn,
)

from coffee_maker.autonomous import git_ops
from coffee_maker.autonomous.roadmap import Roadmap, Status
from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI

ODD_NAME = "docs/we`ird``name.md"
#: Runs when the harness runs the tests: writes a workflow past the tools, prints the
#: worktree's absolute path in colour.
PLANTING_TEST = """\
import os
import pathlib
import unittest

pathlib.Path(".github/workflows").mkdir(parents=True, exist_ok=True)
pathlib.Path(".github/workflows/planted.yml").write_text("on: push\\njobs: {}\\n")


class Cwd(unittest.TestCase):
    def test_cwd(self):
        print("\\x1b[31mworking in", os.getcwd(), "\\x1b[0m")
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    yield make_project(tmp_path)


def hostile_summary(project: Project, worktree: Path) -> str:
    return (
        "Done, @octocat and @octo-org/admins please look. <img src=x onerror=alert(1)>\n"
        "<details open><summary>click</summary></details> <script>alert(2)</script>\n"
        "Closes #1. Fixes octo/calc#2. GH-3\n"
        "```\n</details>\n## a heading from inside the fence\n"
        "````\n"  # a longer fence, trying to close ours
        f"Worked in {worktree} (checkout {project.checkout}, state {project.home}, "
        f"home {Path.home()})\n"
        "\x1b[31mred\x1b[0m \x1b]8;;http://evil\x07link\x1b]8;;\x07\n" + "A" * 100_000
    )


def test_a_hostile_model_gets_an_inert_bounded_pr_without_its_workflow(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COFFEE_MAKER_HOME", str(project.home))
    worktree = git_ops.worktrees_dir(project.checkout) / "priority-1-add-subtract"
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github,
    ):
        project.write_config(model.url, github.url)
        model.script(
            [
                turn(
                    ("write_file", {"path": "calc.py", "content": SUBTRACT}),
                    ("write_file", {"path": "tests/test_subtract.py", "content": SUBTRACT_TEST}),
                    ("write_file", {"path": "tests/test_plant.py", "content": PLANTING_TEST}),
                    ("write_file", {"path": ODD_NAME, "content": "odd\n"}),
                ),
                turn(("write_file", {"path": ".github/workflows/evil.yml", "content": "on: push"})),
                turn(("run_tests", {})),
                turn(("finish", {"summary": hostile_summary(project, worktree)})),
            ]
        )
        done = project.run("--once")

        assert done.returncode == 0, done.stderr
        # The tool refused the workflow, and said why, to the model.
        refusal = model.model_calls[2].body.decode()
        assert "protected path" in refusal and "evil.yml" in refusal
        assert len(github.pulls) == 1
        body = github.pulls[0].body or ""

    # The branch has the work and the harness's roadmap mark, but no workflow at all.
    clone = project.clone_branch(SUBTRACT_BRANCH, tmp_path / "review")
    assert "def subtract" in (clone / "calc.py").read_text()
    assert (clone / ODD_NAME).read_text() == "odd\n"
    assert not (clone / ".github").exists()
    assert Roadmap.load(clone / "ROADMAP.md").get("1").status is Status.COMPLETE

    # The PR body names what was dropped, and why.
    assert "### Not included" in body and "`.github/workflows/planted.yml`" in body
    assert "protected" in body
    # Bounded, inert, local-free.
    assert len(body) <= 60_000
    assert "(truncated:" in body
    assert re.findall(r"(?<![\w`])@[A-Za-z0-9]", body) == []  # no mention can notify
    assert re.findall(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s*:?\s+\S*#\d", body) == []
    assert not re.search(r"(?<!&)#\d|GH-\d", body)
    prose = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", body)  # fenced blocks out
    prose = re.sub(r"(`+)(?!`).+?(?<!`)\1(?!`)", "", prose)  # code spans out
    for tag in ("<img", "<script", "<details open", "<summary>click"):
        assert tag not in prose
    assert prose.count("<details>") == prose.count("</details>")
    assert "\x1b" not in body
    for local in (str(tmp_path), str(worktree), str(project.home), str(Path.home())):
        assert local not in body
    assert "<worktree>" in body  # the test output's path, scrubbed
    # The file named with backticks is one code span that nothing closes early.
    assert "```docs/we`ird``name.md```" in body
    assert body.rstrip().endswith("an autonomous development daemon.</sub>")

    # The commit: a short subject, a bounded quiet body, our trailers last.
    message = git(clone, "log", "-1", "--format=%B")
    subject = message.partition("\n")[0]
    assert len(subject) <= 72 and len(message) < 8_000
    paragraphs = message.strip().split("\n\n")
    trailer_lines = paragraphs[-1].splitlines()
    assert [t.split(":")[0] for t in trailer_lines] == [
        "Verdict",
        "Provider",
        "Model",
        "Cost-USD",
        "Providers-Used",
        "Coffee-Maker-Run",
    ]
    assert "@octocat" not in message and "Closes #1" not in message and "\x1b" not in message
    assert str(tmp_path) not in message and str(Path.home()) not in message
