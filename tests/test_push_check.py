"""The preflight's push question, asked by a child process through the real PyGithub.

The child builds the same publisher (the token reaches it on stdin, never on its command
line) and gives back GitHub's answer or the publisher's one-line error; a child that
cannot answer is one line too, never a traceback, and PyGithub stays out of this process.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from coffee_maker.autonomous import push_check
from coffee_maker.autonomous.pull_requests import PullRequestError, PullRequestPublisher
from coffee_maker.fakes.github import FakeGitHub


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(repos=("octo/demo",)) as server:
        yield server


def publisher(fake: FakeGitHub, repo: str = "octo/demo") -> PullRequestPublisher:
    return PullRequestPublisher(
        repo, fake.token, fake.url, token_env="DEMO_TOKEN", retry_backoff=0.0, throttle=False
    )


def test_the_child_asks_github_and_says_whether_the_token_may_push(fake: FakeGitHub) -> None:
    assert push_check.push_access(publisher(fake)) is True
    fake.add_repo("octo/readonly", push=False)
    assert push_check.push_access(publisher(fake, "octo/readonly")) is False
    asked = [(r.method, r.path, r.headers["authorization"]) for r in fake.requests]
    assert asked[-1] == ("GET", "/repos/octo/readonly", f"token {fake.token}")


def test_githubs_refusal_is_the_publishers_line_naming_the_token(fake: FakeGitHub) -> None:
    with pytest.raises(PullRequestError) as refused:
        push_check.push_access(publisher(fake, "octo/hidden"))
    message = str(refused.value)
    assert "repository octo/hidden not found" in message and "$DEMO_TOKEN" in message
    assert fake.token not in message and "\n" not in message


def test_the_token_is_not_on_the_childs_command_line(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    real_run = subprocess.run

    def spy(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen.append(argv)
        return real_run(argv, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(push_check.subprocess, "run", spy)
    assert push_check.push_access(publisher(fake)) is True
    [argv] = seen
    assert all(fake.token not in word for word in argv)


def test_a_child_that_cannot_answer_is_one_line(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    with pytest.raises(PullRequestError) as failed:
        push_check.push_access(publisher(fake))
    assert str(failed.value) == "could not read the repository octo/demo: the check failed: exit 1"
    assert fake.requests == []


def test_pygithub_stays_out_of_this_process() -> None:
    code = (
        "import sys\n"
        "import coffee_maker.autonomous.preflight, coffee_maker.autonomous.iteration\n"
        "print(sorted({'github', 'requests', 'jwt'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
