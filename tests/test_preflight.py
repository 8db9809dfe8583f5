"""Preflight: what the user can fix is found before any money is spent (exit 2, one line).

End to end through ``code-developer --once`` as a subprocess, with real git (a bare
origin), the real openai SDK against FakeOpenAI and the real PyGithub against FakeGitHub.
Each failing case asserts that not one request reached the model server and the ledger
holds no call: the user paid nothing to learn what was wrong. The base branch defaults to
the remote's default branch, so a ``master`` repository needs no configuration.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from daemon_support import (
    GITHUB_REPO,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    ROADMAP,
    SUBTRACT_BRANCH,
    Project,
    fakes_running,
    git,
    implement_subtract,
    isolate_git,
    make_project,
)

from coffee_maker.ai_providers.provider_config import ConfigError, parse_config
from coffee_maker.autonomous import git_ops
from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI

PROJECT_MANAGER = str(Path(sys.executable).with_name("project-manager"))


@dataclasses.dataclass
class Setup:
    project: Project
    model: FakeOpenAI
    github: FakeGitHub

    def paid_nothing(self) -> bool:
        """Not one request reached the model server and the ledger records no call."""
        return self.model.requests == [] and self.project.calls() == []


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolate_git(tmp_path, monkeypatch)


@pytest.fixture
def setup(tmp_path: Path, isolated_git: Path) -> Iterator[Setup]:
    with fakes_running(make_project(tmp_path)) as running:
        yield Setup(running.project, running.model, running.github)


def one_line(stderr: str) -> str:
    """The contract's error: exactly one line, no traceback."""
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, stderr
    return stderr


# -- the remote ----------------------------------------------------------------------------------


def test_no_origin_remote_is_exit_2_before_the_model_is_paid(setup: Setup) -> None:
    project = setup.project
    git(project.checkout, "remote", "remove", "origin")

    done = project.run("--once")

    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done.stderr)
    assert "no git remote named 'origin'" in line and "daemon.remote" in line
    assert setup.paid_nothing()
    assert setup.github.requests == [] and project.worktrees() == []
    assert project.state().get("priorities", {}) == {}  # no attempt counted


def test_unreachable_origin_is_exit_2(setup: Setup, tmp_path: Path) -> None:
    project = setup.project
    missing = tmp_path / "moved-away.git"
    git(project.checkout, "remote", "set-url", "origin", str(missing))

    done = project.run("--once")

    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done.stderr)
    assert "remote 'origin'" in line and "cannot be read" in line and str(missing) in line
    assert "git remote -v" in line
    assert setup.paid_nothing() and setup.github.requests == []

    # An https remote that carries a token: refused at once, and the token is not shown.
    with_token = "https://x-access-token:tok3nInTheUrl123@127.0.0.1:1/octo/calc.git"
    git(project.checkout, "remote", "set-url", "origin", with_token)
    refused = project.run("--once")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    line = one_line(refused.stderr)
    assert "(https://127.0.0.1:1/octo/calc.git) cannot be read" in line
    assert "tok3nInTheUrl123" not in line and setup.paid_nothing()


def test_a_hanging_remote_is_bounded_by_a_timeout(tmp_path: Path, isolated_git: Path) -> None:
    """ls-remote is killed after its timeout, not waited on (a dead VPN, a stuck proxy)."""
    isolated_git.write_text('[protocol "ext"]\n\tallow = always\n')
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "remote", "add", "origin", "ext::sleep 30")
    started = time.monotonic()
    with pytest.raises(git_ops.GitError, match="did not complete in 1 secs"):
        git_ops.remote_default_branch(repo, "origin", timeout=1)
    assert time.monotonic() - started < 10


def test_a_base_branch_the_remote_lacks_is_exit_2_naming_it(setup: Setup) -> None:
    project = setup.project
    project.write_config(setup.model.url, setup.github.url, daemon={"base_branch": "develop"})

    done = project.run("--once")

    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done.stderr)
    assert "'develop'" in line and "daemon.base_branch" in line
    assert "does not exist on remote 'origin'" in line and "default branch is 'main'" in line
    assert setup.paid_nothing()


# -- the base branch's default -----------------------------------------------------------------


def test_a_master_repository_gets_its_pr_against_master_unconfigured(
    tmp_path: Path, isolated_git: Path
) -> None:
    project = make_project(tmp_path, "master", dirty=False)
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github,
    ):
        project.write_config(model.url, github.url)
        assert "base_branch" not in yaml.safe_load(project.config.read_text())["daemon"]
        model.script(implement_subtract())

        done = project.run("--once")

        assert done.returncode == 0, done.stdout + done.stderr
        assert len(github.pulls) == 1
        pull = github.pulls[0]
        assert (pull.head, pull.base, pull.draft) == (SUBTRACT_BRANCH, "master", False)
        # The branch started from origin/master.
        base = git(project.origin, "merge-base", "master", SUBTRACT_BRANCH)
        assert base == git(project.origin, "rev-parse", "master")


def test_project_manager_roadmap_reads_master_of_a_master_repository(
    tmp_path: Path, isolated_git: Path
) -> None:
    project = make_project(tmp_path, "master", dirty=False)
    # The checkout's copy says PRIORITY 1 is done; origin/master, which the daemon reads, not.
    local = ROADMAP.replace("**Status**: 📝 Planned", "**Status**: ✅ Complete", 1)
    (project.checkout / "ROADMAP.md").write_text(local)
    project.config.write_text(yaml.safe_dump({"providers": {"openai": {"model": MODEL}}}))

    done = subprocess.run(
        [PROJECT_MANAGER, "roadmap", "--repo", str(project.checkout), "--config", project.config],
        capture_output=True,
        text=True,
        env=project.env(COLUMNS="200"),
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if "│" in line}
    assert "NEXT" in rows["PRIORITY 1"] and "Planned" in rows["PRIORITY 1"]


def test_the_default_branch_comes_from_origin_head_else_the_remote_else_local(
    tmp_path: Path, isolated_git: Path
) -> None:
    project = make_project(tmp_path, "master", dirty=False)
    checkout = project.checkout
    assert git_ops.default_branch(checkout, "origin") == "master"  # refs/remotes/origin/HEAD
    git(checkout, "remote", "set-head", "origin", "--delete")
    git(project.origin, "branch", "trunk", "master")
    git(project.origin, "symbolic-ref", "HEAD", "refs/heads/trunk")
    assert git_ops.default_branch(checkout, "origin") == "trunk"  # asked with ls-remote
    assert git_ops.remote_has_branch(checkout, "trunk") and not git_ops.remote_has_branch(
        checkout, "develop"
    )
    git(checkout, "remote", "remove", "origin")
    assert git_ops.default_branch(checkout, "origin") == "master"  # no remote: local master
    git(checkout, "branch", "main")
    assert git_ops.default_branch(checkout, "origin") == "main"
    lonely = tmp_path / "lonely"
    git(tmp_path, "init", "-q", "-b", "trunk", str(lonely))
    with pytest.raises(git_ops.GitError, match=r"no local main or master.*daemon\.base_branch"):
        git_ops.default_branch(lonely, "origin")


# -- providers -----------------------------------------------------------------------------------


def test_a_typo_in_a_provider_type_is_exit_2_naming_the_key(setup: Setup) -> None:
    project = setup.project
    config = yaml.safe_load(project.config.read_text())
    config["providers"]["openai"]["type"] = "opneai"
    project.config.write_text(yaml.safe_dump(config))

    for flags in (["--once"], ["--dry-run"]):
        done = project.run(*flags)
        assert done.returncode == 2, done.stdout + done.stderr
        line = one_line(done.stderr)
        assert "providers.openai.type" in line and "'opneai'" in line
        known = line.split("(known: ", 1)[1]
        assert {"claude", "gemini", "ollama", "openai"} <= set(known.rstrip(")\n").split(", "))
    assert setup.paid_nothing()


def test_unknown_types_are_refused_at_load_even_for_a_disabled_provider() -> None:
    data = {"providers": {"openai": {}, "olama": {"enabled": False, "model": "m"}}}
    with pytest.raises(ConfigError, match=r"^x\.yaml: providers\.olama\.type: unknown provider"):
        parse_config(data, "x.yaml", environ={})
    with pytest.raises(ConfigError, match="without a `type:` the name is the type"):
        parse_config(data, "x.yaml", environ={})
    assert parse_config({"providers": {"mine": {"type": "ollama"}}}, "x", environ={})


# -- GitHub --------------------------------------------------------------------------------------


def test_a_token_without_push_permission_is_exit_2(setup: Setup) -> None:
    project, github = setup.project, setup.github
    github.add_repo(GITHUB_REPO, push=False)

    done = project.run("--once")

    assert done.returncode == 2, done.stdout + done.stderr
    line = one_line(done.stderr)
    assert "no push permission on octo/calc" in line and "$GITHUB_TOKEN" in line
    assert setup.paid_nothing() and github.pulls == []
    assert git(project.origin, "branch", "--list") == "* main"  # nothing pushed


def test_a_token_that_cannot_see_the_repository_or_is_missing_is_exit_2(setup: Setup) -> None:
    project, github = setup.project, setup.github
    github.remove_repo(GITHUB_REPO)
    hidden = project.run("--once")
    assert hidden.returncode == 2, hidden.stdout + hidden.stderr
    line = one_line(hidden.stderr)
    assert "repository octo/calc not found" in line and "$GITHUB_TOKEN has no access" in line

    missing = project.run("--once", env=project.env(GITHUB_TOKEN=""))
    assert missing.returncode == 2
    assert "no GitHub token: set GITHUB_TOKEN" in one_line(missing.stderr)
    assert setup.paid_nothing()


# -- the dry run ---------------------------------------------------------------------------------


def test_dry_run_prints_each_check_and_exits_2_when_one_is_bad(setup: Setup) -> None:
    project, github = setup.project, setup.github
    good = project.run("--dry-run")
    assert good.returncode == 0, good.stderr
    lines = good.stdout.splitlines()
    for expected in (
        "ok   providers: openai",
        "ok   sandbox: bubblewrap, tests run without the network",
        f"ok   remote: origin is {project.origin}",
        "ok   remote reachable: origin answers; its default branch is main",
        "ok   base branch: main (origin's default branch)",
        "ok   github token: $GITHUB_TOKEN is set",
        f"ok   github repository: {GITHUB_REPO} at {github.url}",
        "ok   github push: the token in $GITHUB_TOKEN may push",
    ):
        assert expected in lines, good.stdout
    assert "priority: PRIORITY 1: Add subtract" in good.stdout  # the plan is still there
    assert "branch: coffee-maker/... from main; pull request: yes" in good.stdout

    github.add_repo(GITHUB_REPO, push=False)
    refs = git(project.checkout, "for-each-ref")
    bad = project.run("--dry-run")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "ok   base branch: main (origin's default branch)" in bad.stdout
    assert "bad  github push: the token in $GITHUB_TOKEN has no push permission" in bad.stdout
    assert "not ready: 1 of 8 checks failed" in bad.stdout
    assert git(project.checkout, "for-each-ref") == refs and project.worktrees() == []
    assert {r.method for r in github.requests} == {"GET"}

    no_pr = project.run("--dry-run", "--no-pr")  # PRs off: GitHub is not asked
    assert no_pr.returncode == 0, no_pr.stderr
    assert "github" not in no_pr.stdout.split("priority:")[0]
    assert setup.paid_nothing()


def test_dry_run_lists_every_bad_check_of_a_repository_without_origin(setup: Setup) -> None:
    project = setup.project
    git(project.checkout, "remote", "remove", "origin")
    done = project.run("--dry-run")
    assert done.returncode == 2
    assert "bad  remote: " in done.stdout and "ok   providers: openai" in done.stdout
    assert "ok   github push" in done.stdout  # the other checks still ran
    assert setup.paid_nothing()
