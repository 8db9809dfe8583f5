"""Opening PRs through the real PyGithub against the fake GitHub server, and the PR body."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from coffee_maker.autonomous.pull_requests import (
    BODY_LIMIT,
    PullRequestContent,
    PullRequestError,
    PullRequestPublisher,
    pr_title,
    render_pr_body,
)
from coffee_maker.fakes.github import FakeGitHub


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(repos=("octo/demo",)) as server:
        yield server


def publisher(fake: FakeGitHub, **kwargs) -> PullRequestPublisher:
    repo = kwargs.pop("repo", "octo/demo")
    options = {"token": fake.token, "api_url": fake.url, "retry_backoff": 0.0, "throttle": False}
    options.update(kwargs)
    return PullRequestPublisher(repo, **options)


def posts_to_pulls(fake: FakeGitHub) -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path.endswith("/pulls")]


def test_opens_a_pull_request(fake: FakeGitHub) -> None:
    info = publisher(fake).open_or_update(
        "coffee-maker/priority-3", "main", "PRIORITY 3: Add a flag", "the body", draft=False
    )
    assert info.created and info.number == 1 and not info.draft
    assert info.url == f"{fake.url}/octo/demo/pull/1"
    [pull] = fake.pulls
    assert (pull.head, pull.base, pull.title, pull.body) == (
        "coffee-maker/priority-3",
        "main",
        "PRIORITY 3: Add a flag",
        "the body",
    )
    assert fake.requests[-1].headers["authorization"] == f"token {fake.token}"


def test_an_open_pr_for_the_branch_is_updated_not_duplicated(fake: FakeGitHub) -> None:
    first = publisher(fake).open_or_update("cm/p3", "main", "old title", "old body")
    again = publisher(fake).open_or_update(
        "cm/p3", "main", "new title", "new body", comment="Tests pass now."
    )
    assert not again.created and again.number == first.number
    [pull] = fake.pulls
    assert (pull.title, pull.body, pull.comments) == ("new title", "new body", ["Tests pass now."])
    assert len(posts_to_pulls(fake)) == 1


def test_a_422_already_exists_race_updates_the_winner(fake: FakeGitHub) -> None:
    publisher(fake).open_or_update("cm/p3", "main", "by the other run", "theirs")
    # The other run's PR is invisible to our first lookup, as if it was created just after it.
    fake.fail_next(200, [], method="GET", path="/pulls")
    info = publisher(fake).open_or_update("cm/p3", "main", "ours", "our body")
    assert not info.created and info.number == 1
    assert [(p.title, p.body) for p in fake.pulls] == [("ours", "our body")]
    assert len(posts_to_pulls(fake)) == 2  # the second POST got GitHub's 422


def test_draft_flag_is_set_on_create_and_changed_on_update(fake: FakeGitHub) -> None:
    info = publisher(fake).open_or_update("cm/p3", "main", "t", "tests failed", draft=True)
    assert info.draft and fake.pulls[0].draft
    ready = publisher(fake).open_or_update("cm/p3", "main", "t", "tests pass", draft=False)
    assert not ready.draft and not fake.pulls[0].draft
    assert any(r.path == "/graphql" for r in fake.requests)


def test_github_enterprise_api_prefix(fake: FakeGitHub) -> None:
    pub = publisher(fake, api_url=fake.enterprise_url)
    info = pub.open_or_update("cm/p3", "main", "t", "b", draft=True)
    pub.open_or_update("cm/p3", "main", "t", "b", draft=False)
    assert info.created and not fake.pulls[0].draft
    assert {r.prefix for r in fake.requests} == {"/api/v3"}


def test_find_open_sees_only_open_prs(fake: FakeGitHub) -> None:
    pub = publisher(fake)
    assert pub.find_open("cm/p3") is None
    pub.open_or_update("cm/p3", "main", "t", "b")
    assert pub.find_open("cm/p3").number == 1
    fake.pulls[0].state = "closed"
    assert pub.find_open("cm/p3") is None


def test_bad_token_says_to_check_the_token_variable(fake: FakeGitHub) -> None:
    wrong = "ghp_wrongWrongWrongWrongWrong12345"
    with pytest.raises(PullRequestError) as err:
        publisher(fake, token=wrong, token_env="MY_GH_TOKEN").open_or_update("b", "main", "t", "x")
    message = str(err.value)
    assert "401" in message and "$MY_GH_TOKEN" in message and "\n" not in message
    assert wrong not in message


def test_unknown_repository_is_named(fake: FakeGitHub) -> None:
    with pytest.raises(PullRequestError, match=r"octo/missing not found .* no access"):
        publisher(fake, repo="octo/missing").open_or_update("b", "main", "t", "x")


def test_a_token_without_permission_is_told_what_it_needs(fake: FakeGitHub) -> None:
    body = {"message": "Resource not accessible by personal access token"}
    fake.fail_next(403, body, method="POST", path="/pulls")
    with pytest.raises(PullRequestError, match=r"403 Resource not accessible.*needs write access"):
        publisher(fake).open_or_update("b", "main", "t", "x")


def test_server_errors_stop_after_three_retries(fake: FakeGitHub) -> None:
    fake.fail_next(503, times=100)
    with pytest.raises(PullRequestError, match=r"kept failing .*503.* after 3 retries"):
        publisher(fake).open_or_update("b", "main", "t", "x")
    assert len(fake.requests) == 4


def test_rate_limit_reset_far_away_fails_fast_instead_of_sleeping(fake: FakeGitHub) -> None:
    reset = str(int(time.time()) + 3600)
    body = {"message": "API rate limit exceeded for user ID 1."}
    fake.fail_next(403, body, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    started = time.monotonic()
    with pytest.raises(PullRequestError, match="rate limit"):
        publisher(fake).open_or_update("b", "main", "t", "x")
    assert time.monotonic() - started < 5


def test_unreachable_github_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    pub = PullRequestPublisher(
        "o/r", "t0ken-value", f"http://127.0.0.1:{port}", retry_backoff=0, throttle=False
    )
    with pytest.raises(PullRequestError, match="unreachable"):
        pub.open_or_update("b", "main", "t", "x")


def test_token_is_redacted_even_when_github_echoes_it(fake: FakeGitHub) -> None:
    fake.token = "plain-token-without-a-known-shape"
    fake.fail_next(400, {"message": f"token {fake.token} is malformed"})
    with pytest.raises(PullRequestError) as err:
        publisher(fake).open_or_update("b", "main", "t", "x")
    assert "malformed" in str(err.value) and fake.token not in str(err.value)


def test_configuration_errors_name_the_setting() -> None:
    with pytest.raises(PullRequestError, match=r"github\.repo"):
        PullRequestPublisher("not-a-repo", "token-value")
    with pytest.raises(PullRequestError, match=r"github\.api_url must be an http\(s\) URL"):
        PullRequestPublisher("o/r", "token-value", "api.github.com")
    with pytest.raises(PullRequestError, match="GH_PAT"):
        PullRequestPublisher("o/r", "", token_env="GH_PAT")


# -- title and body ----------------------------------------------------------------------------


def content(**changes) -> PullRequestContent:
    base = PullRequestContent(
        priority_id="PRIORITY 3",
        priority_title="Add a --json flag",
        priority_text="Add `--json` to `status`.",
        summary="Added the flag and a test.",
        files_changed=["coffee_maker/cli/status.py", "tests/test_status.py"],
        diff_stat=" 2 files changed, 40 insertions(+)",
        test_command="pytest -q",
        test_passed=True,
        test_output_tail="2 passed in 0.1s",
        verdict="passed",
        verdict_text="passed (2 passed; baseline 1 passed)",
        cost_usd=0.0123,
        tokens={"input_tokens": 12000, "output_tokens": 800},
        providers_used=["claude", "openai"],
        fallback_events=[{"provider": "claude", "error": "overloaded"}, "switched to openai"],
        run_id="20261202T101500-abc123",
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_title() -> None:
    assert pr_title("PRIORITY 3", "Add a --json flag") == "PRIORITY 3: Add a --json flag"
    assert pr_title("US-12", "Two\nlines ") == "US-12: Two lines"
    assert pr_title("PRIORITY 3", "PRIORITY 3: Same") == "PRIORITY 3: Same"
    assert len(pr_title("US-1", "x" * 1000)) == 256


def test_body_of_a_passing_run_has_what_a_reviewer_needs() -> None:
    body = render_pr_body(content())
    assert body.startswith("**Verdict: passed (2 passed; baseline 1 passed)** (`pytest -q`).")
    for expected in (
        "## PRIORITY 3: Add a --json flag",
        "Added the flag and a test.",
        "- `tests/test_status.py`",
        "2 files changed, 40 insertions(+)",
        "`pytest -q`: **passed**",
        "Add `--json` to `status`.",
        "Providers: claude, openai",
        "input 12,000 · output 800",
        "Cost: $0.0123",
        "provider: claude, error: overloaded",
        "switched to openai",
        "`20261202T101500-abc123`",
    ):
        assert expected in body
    assert body.rstrip().endswith(
        "Generated by coffee-maker, an autonomous development daemon.</sub>"
    )


def test_new_failures_lead_the_body() -> None:
    body = render_pr_body(
        content(
            test_passed=False,
            test_output_tail="FAILED test_x - boom",
            verdict="new failures",
            verdict_text="new failures: test_x (1 failed; baseline 0 failed)",
        )
    )
    assert body.startswith(
        "> [!WARNING]\n> **Verdict: new failures: test_x (1 failed; baseline 0 failed)** "
        "(`pytest -q`). This change is not verified as ready to merge."
    )
    assert "`pytest -q`: **new failures**" in body and "FAILED test_x - boom" in body


def test_no_test_command_says_the_change_is_not_verified() -> None:
    body = render_pr_body(
        content(
            test_command=None,
            test_passed=None,
            test_output_tail="",
            verdict="not verified",
            verdict_text="not verified (no test command)",
        )
    )
    assert body.startswith("> [!WARNING]\n> **Verdict: not verified**: no test command")
    assert "passed" not in body


def test_notes_reach_the_reviewer_inert() -> None:
    note = "Model-written code ran WITHOUT a sandbox @octocat"
    body = render_pr_body(content(notes=[note]))
    assert "WITHOUT a sandbox" in body and "@octocat" not in body


def test_secrets_never_reach_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "configured-key-value-0123456789"
    shaped = "sk-ant-api03-" + "A" * 40
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    body = render_pr_body(
        content(
            summary=f"used {secret}",
            priority_text=f"key {shaped}",
            test_output_tail=f"env: ANTHROPIC_API_KEY={secret}",
            fallback_events=[{"error": f"401 for {shaped}"}],
        )
    )
    assert secret not in body and shaped not in body and "sk-ant-" not in body
    assert body.count("[REDACTED]") >= 4


def test_long_sections_are_truncated_keeping_the_test_output_tail() -> None:
    output = "\n".join(f"line {i}" for i in range(50_000))
    body = render_pr_body(
        content(
            summary="s" * 100_000,
            test_output_tail=output,
            files_changed=[f"f{i}.py" for i in range(500)],
        )
    )
    assert len(body) < BODY_LIMIT + 500
    assert "line 49999" in body and "line 0\n" not in body
    assert "earlier characters cut" in body and "truncated:" in body
    assert "and 450 more files" in body


def test_output_with_backticks_cannot_break_out_of_its_fence() -> None:
    body = render_pr_body(content(test_output_tail="```\n## injected heading\n```"))
    assert "````\n```\n## injected heading\n```\n````" in body


def test_the_diff_stat_keeps_its_column_alignment():
    stat = " calculator.py          | 5 +++++\n tests/test_subtract.py | 8 ++++++++\n"
    body = render_pr_body(PullRequestContent("PRIORITY 1", "Add subtract", "text", diff_stat=stat))
    assert " calculator.py          | 5 +++++\n tests/test_subtract.py | 8" in body


def test_credentials_in_the_api_url_never_reach_an_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    api_url = f"http://bot:api-url-pass@127.0.0.1:{port}/api/v3?access_token=qs-secret"
    pub = PullRequestPublisher("o/r", "t0ken-value", api_url, retry_backoff=0, throttle=False)
    with pytest.raises(PullRequestError, match="unreachable") as err:
        pub.open_or_update("b", "main", "t", "x")
    assert "api-url-pass" not in str(err.value) and "qs-secret" not in str(err.value)
    with pytest.raises(PullRequestError, match=r"github\.api_url") as err:
        PullRequestPublisher("o/r", "t0ken-value", "ftp://bot:api-url-pass@ghe.example.com")
    assert "api-url-pass" not in str(err.value)
