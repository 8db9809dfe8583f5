"""The fake GitHub's review side, through the real PyGithub exactly as a daemon calls it:
reviews, review and issue comments, replies, reactions, permissions, checks, statuses,
pagination, conditional requests, and pull requests backed by a real bare repository."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from github import Auth, Github, GithubException
from github.PullRequest import PullRequest

from coffee_maker.fakes.github import FakeGitHub, MergeConflict
from tests.daemon_support import git, isolate_git, make_project

REPO = "octo/demo"
REVIEWER = "alice"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with FakeGitHub(repos=(REPO,)) as server:
        yield server


def client(fake: FakeGitHub, **options) -> Github:
    return Github(
        base_url=fake.url,
        auth=Auth.Token(fake.token),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
        **options,
    )


def open_pull(fake: FakeGitHub, head: str = "feature", **options) -> PullRequest:
    repo = client(fake, **options).get_repo(REPO)
    return repo.create_pull(base="main", head=head, title="Add subtract", body="b")


def test_a_pull_request_reports_its_merge_state_and_author(fake: FakeGitHub) -> None:
    created = open_pull(fake)
    pull = client(fake).get_repo(REPO).get_pull(created.number)
    assert (pull.merged, pull.merged_at, pull.merge_commit_sha) == (False, None, None)
    assert (pull.mergeable, pull.mergeable_state, pull.state) == (True, "clean", "open")
    assert pull.user.login == fake.login and len(pull.head.sha) == 40
    assert pull.head.sha != pull.base.sha
    assert pull.head.sha == client(fake).get_repo(REPO).get_pull(1).head.sha  # stable

    fake.add_check_run(REPO, pull.head.sha, "tests", conclusion="failure")
    assert client(fake).get_repo(REPO).get_pull(1).mergeable_state == "unstable"

    before = fake.pulls[0].updated_at
    fake.merge(REPO, 1)
    merged = client(fake).get_repo(REPO).get_pull(1)
    assert (merged.merged, merged.state, merged.mergeable) == (True, "closed", None)
    assert merged.merged_at is not None and len(merged.merge_commit_sha) == 40
    assert merged.merged_by.login == fake.login and fake.pulls[0].updated_at > before


def test_close_leaves_a_pull_request_unmerged(fake: FakeGitHub) -> None:
    open_pull(fake)
    fake.close(REPO, 1)
    pull = client(fake).get_repo(REPO).get_pull(1)
    assert (pull.state, pull.merged, pull.closed_at is not None) == ("closed", False, True)
    with pytest.raises(MergeConflict, match="closed"):
        fake.merge(REPO, 1)
    fake.pulls[0].state, fake.pulls[0].draft = "open", True
    with pytest.raises(MergeConflict, match="a draft"):
        fake.merge(REPO, 1)


def test_reviews_and_their_inline_comments(fake: FakeGitHub) -> None:
    pull = open_pull(fake)
    fake.set_permission(REPO, REVIEWER, "write")
    inline = [{"path": "calc.py", "line": 3, "body": "Name this better."}]
    review = fake.add_review(REPO, 1, REVIEWER, "CHANGES_REQUESTED", "Two things.", inline)
    fake.add_review(REPO, 1, "bob", "APPROVED")

    changes, approval = pull.get_reviews()
    assert (changes.id, changes.user.login, changes.body) == (review.id, REVIEWER, "Two things.")
    assert (changes.state, changes.commit_id) == ("CHANGES_REQUESTED", pull.head.sha)
    assert changes.submitted_at is not None and changes.author_association == "COLLABORATOR"
    assert changes.html_url.endswith(f"/octo/demo/pull/1#pullrequestreview-{review.id}")
    assert (approval.state, approval.author_association) == ("APPROVED", "NONE")

    [comment] = pull.get_review_comments()
    assert (comment.user.login, comment.body, comment.path) == (
        REVIEWER,
        "Name this better.",
        "calc.py",
    )
    assert (comment.line, comment.original_line, comment.side) == (3, 3, "RIGHT")
    assert comment.pull_request_review_id == review.id and comment.in_reply_to_id is None
    assert comment.commit_id == pull.head.sha and comment.diff_hunk.startswith("@@")
    assert comment.created_at is not None and comment.updated_at is not None
    assert comment.html_url.endswith(f"/octo/demo/pull/1#discussion_r{comment.id}")

    fake.dismiss_review(REPO, 1, review.id)
    assert [r.state for r in pull.get_reviews()] == ["DISMISSED", "APPROVED"]
    with pytest.raises(ValueError, match="state must be one of"):
        fake.add_review(REPO, 1, REVIEWER, "LGTM")


def test_replies_join_the_thread_and_make_a_commented_review(fake: FakeGitHub) -> None:
    pull = open_pull(fake)
    first = fake.add_review_comment(REPO, 1, REVIEWER, "calc.py", 2, "Why?")
    reply = pull.create_review_comment_reply(first.id, "Because tests need it.")
    assert (reply.user.login, reply.body, reply.in_reply_to_id) == (
        fake.login,
        "Because tests need it.",
        first.id,
    )
    assert (reply.path, reply.line) == ("calc.py", 2)
    again = pull.create_review_comment_reply(reply.id, "And one more.")
    assert again.in_reply_to_id == first.id  # a reply to a reply joins the thread
    by_test = fake.add_review_comment(REPO, 1, REVIEWER, "x", 1, "ok", in_reply_to=again.id)
    assert by_test.in_reply_to_id == first.id

    reviews = list(pull.get_reviews())
    assert [(r.user.login, r.state, r.body) for r in reviews] == [
        (REVIEWER, "COMMENTED", ""),
        (fake.login, "COMMENTED", ""),
        (fake.login, "COMMENTED", ""),
        (REVIEWER, "COMMENTED", ""),
    ]
    listed = list(pull.get_review_comments())
    assert [c.pull_request_review_id for c in listed] == [r.id for r in reviews]
    with pytest.raises(GithubException) as err:
        pull.create_review_comment_reply(999_999, "to nothing")
    assert err.value.status == 404


def test_issue_comments_are_full_objects(fake: FakeGitHub) -> None:
    pull = open_pull(fake)
    mine = pull.create_issue_comment("Ready for review.")
    assert mine.id and mine.user.login == fake.login and mine.created_at is not None
    theirs = fake.add_issue_comment(REPO, 1, REVIEWER, "Please add a test.")
    listed = list(pull.get_issue_comments())
    assert [(c.id, c.user.login, c.body) for c in listed] == [
        (mine.id, fake.login, "Ready for review."),
        (theirs.id, REVIEWER, "Please add a test."),
    ]
    assert fake.pulls[0].comments == ["Ready for review.", "Please add a test."]


def test_reactions_on_issue_and_review_comments(fake: FakeGitHub) -> None:
    gh = client(fake)
    pull = open_pull(fake)
    fake.add_issue_comment(REPO, 1, REVIEWER, "Please add a test.")
    fake.add_review_comment(REPO, 1, REVIEWER, "calc.py", 2, "Why?")
    [issue_comment] = pull.get_issue_comments()
    [review_comment] = pull.get_review_comments()

    eyes = issue_comment.create_reaction("eyes")
    assert (eyes.content, eyes.user.login) == ("eyes", fake.login)
    assert review_comment.create_reaction("+1").content == "+1"
    for comment in (issue_comment, review_comment):
        url = f"{comment.url}/reactions"
        status, _, _ = gh.requester.requestJson("POST", url, input={"content": "rocket"})
        again, _, _ = gh.requester.requestJson("POST", url, input={"content": "rocket"})
        bad, _, _ = gh.requester.requestJson("POST", url, input={"content": "thumbsup"})
        assert (status, again, bad) == (201, 200, 422)
    [issue_comment] = pull.get_issue_comments()
    assert [r.content for r in issue_comment.get_reactions()] == ["eyes", "rocket"]
    assert issue_comment.raw_data["reactions"]["eyes"] == 1
    with pytest.raises(GithubException) as err:
        gh.requester.requestJsonAndCheck(
            "POST",
            f"{fake.url}/repos/{REPO}/issues/comments/424242/reactions",
            input={"content": "eyes"},
        )
    assert err.value.status == 404


def test_collaborator_permission_maps_roles_as_github_does(fake: FakeGitHub) -> None:
    repo = client(fake).get_repo(REPO)
    for role, permission in [
        ("admin", "admin"),
        ("maintain", "write"),
        ("write", "write"),
        ("triage", "read"),
        ("read", "read"),
        ("none", "none"),
    ]:
        fake.set_permission(REPO, REVIEWER, role)
        assert repo.get_collaborator_permission(REVIEWER) == permission
        assert repo.get_collaborator_role_name(REVIEWER) == role
    assert repo.get_collaborator_permission("stranger") == "none"
    assert repo.get_collaborator_permission(fake.login) == "write"
    assert repo.get_collaborator_permission("octo") == "admin"  # the owner
    _, data = client(fake).requester.requestJsonAndCheck(
        "GET", f"{fake.url}/repos/{REPO}/collaborators/{REVIEWER}/permission"
    )
    assert (data["user"]["login"], data["role_name"]) == (REVIEWER, "none")
    with pytest.raises(ValueError, match="role must be one of"):
        fake.set_permission(REPO, REVIEWER, "owner")


def test_check_runs_and_combined_status(fake: FakeGitHub) -> None:
    sha = open_pull(fake).head.sha
    repo = client(fake).get_repo(REPO)
    assert repo.get_commit(sha).get_combined_status().state == "pending"  # none yet
    lint = fake.add_check_run(REPO, sha, "lint", conclusion="success")
    tests = fake.add_check_run(
        REPO, sha, "tests", title="2 failed", summary="test_x, test_y", text="Traceback..."
    )
    commit = repo.get_commit(sha)
    assert commit.sha == sha and commit.commit.message
    runs = {r.name: r for r in commit.get_check_runs()}
    assert set(runs) == {"lint", "tests"}
    run = runs["tests"]
    assert (run.id, run.head_sha, run.status, run.conclusion) == (
        tests.id,
        sha,
        "completed",
        "failure",
    )
    assert (run.output.title, run.output.summary, run.output.text) == (
        "2 failed",
        "test_x, test_y",
        "Traceback...",
    )
    assert run.started_at and run.completed_at and run.html_url and run.details_url
    assert run.app.slug == "github-actions" and runs["lint"].id == lint.id

    rerun = fake.add_check_run(REPO, sha, "tests", status="in_progress")
    latest = {r.name: r for r in commit.get_check_runs()}
    assert (latest["tests"].id, latest["tests"].status, latest["tests"].conclusion) == (
        rerun.id,
        "in_progress",
        None,
    )
    assert commit.get_check_runs(filter="all").totalCount == 3
    fake.set_check_run(REPO, rerun.id, status="completed", conclusion="success")
    assert [r.conclusion for r in commit.get_check_runs(check_name="tests")] == ["success"]
    assert repo.get_pull(1).mergeable_state == "clean"

    fake.add_status(REPO, sha, "ci/build", "pending", "building")
    fake.add_status(REPO, sha, "ci/build", "failure", "broke", target_url="http://ci/1")
    fake.add_status(REPO, sha, "ci/docs", "success")
    combined = repo.get_commit(sha).get_combined_status()
    assert (combined.state, combined.sha, combined.total_count) == ("failure", sha, 2)
    build = next(s for s in combined.statuses if s.context == "ci/build")
    assert (build.state, build.description, build.target_url) == ("failure", "broke", "http://ci/1")

    with pytest.raises(GithubException) as err:
        repo.get_commit("no-such-branch").get_check_runs()[0]
    assert err.value.status == 422


def test_lists_are_paginated_with_link_headers(fake: FakeGitHub) -> None:
    pull = open_pull(fake, per_page=30)
    for i in range(65):
        fake.add_issue_comment(REPO, 1, REVIEWER, f"comment {i}")
    before = len(fake.requests)
    bodies = [c.body for c in pull.get_issue_comments()]
    assert bodies == [f"comment {i}" for i in range(65)]
    pages = [r for r in fake.requests[before:] if r.path.endswith("/comments")]
    assert [r.query.get("page", "1") for r in pages] == ["1", "2", "3"]

    gh = client(fake)
    status, headers, _ = gh.requester.requestJson(
        "GET", f"{fake.url}/repos/{REPO}/issues/1/comments", parameters={"per_page": 30, "page": 2}
    )
    link = headers["link"]
    assert status == 200 and 'page=3>; rel="next"' in link and 'page=3>; rel="last"' in link
    assert 'page=1>; rel="prev"' in link and 'page=1>; rel="first"' in link
    assert (
        client(fake, per_page=10).get_repo(REPO).get_pull(1).get_issue_comments().totalCount == 65
    )


def test_conditional_requests_answer_304_and_spare_the_rate_limit(fake: FakeGitHub) -> None:
    gh = client(fake)
    open_pull(fake)
    pull = gh.get_repo(REPO).get_pull(1)
    assert pull.etag.startswith('W/"') and pull.last_modified
    counted = fake.rate_limited_requests
    assert pull.update() is False  # unchanged: 304
    assert fake.rate_limited_requests == counted
    assert fake.requests[-1].headers["if-none-match"] == pull.etag

    fake.add_issue_comment(REPO, 1, REVIEWER, "one more thing")
    assert pull.update() is True and pull.comments == 1
    assert fake.rate_limited_requests == counted + 1
    assert pull.update() is False

    fake.add_review(REPO, 1, REVIEWER, "APPROVED")  # within the same second still changes it
    assert pull.update() is True

    url = f"{fake.url}/repos/{REPO}/pulls/1"
    status, headers, body = gh.requester.requestJson("GET", url)
    assert status == 200 and headers["etag"].startswith('W/"')
    remaining = int(headers["x-ratelimit-remaining"])
    assert remaining == 5000 - fake.rate_limited_requests
    status, again, body = gh.requester.requestJson(
        "GET", url, headers={"If-None-Match": headers["etag"]}
    )
    assert (status, body) == (304, "")
    assert int(again["x-ratelimit-remaining"]) == remaining
    since = {"If-Modified-Since": headers["last-modified"]}
    assert gh.requester.requestJson("GET", url, headers=since)[0] == 304
    stale = {"If-None-Match": 'W/"stale"', **since}  # If-None-Match decides when both are sent
    assert gh.requester.requestJson("GET", url, headers=stale)[0] == 200
    comments = f"{url.replace('/pulls/', '/issues/')}/comments"
    _, listed, _ = gh.requester.requestJson("GET", comments)
    status, _, _ = gh.requester.requestJson(
        "GET", comments, headers={"If-None-Match": listed["etag"]}
    )
    assert status == 304


def test_review_routes_hide_unknown_repositories_and_need_the_token(fake: FakeGitHub) -> None:
    open_pull(fake)
    gh = client(fake)
    for path in (
        "/repos/octo/missing/pulls/1/reviews",
        "/repos/octo/missing/collaborators/alice/permission",
        f"/repos/{REPO}/pulls/9/reviews",
    ):
        status, _, _ = gh.requester.requestJson("GET", fake.url + path)
        assert status == 404, path
    wrong = Github(base_url=fake.url, auth=Auth.Token("ghp_wrong"), retry=None)
    status, _, _ = wrong.requester.requestJson("GET", f"{fake.url}/repos/{REPO}/pulls/1/comments")
    assert status == 401


# -- backed by a real bare repository ------------------------------------------------------


def push_branch(project_root: Path, origin: Path, branch: str, content: str, start: str = "main"):
    work = project_root / f"work-{branch.replace('/', '-')}-{time.monotonic_ns()}"
    git(project_root, "clone", "-q", "--branch", start, str(origin), str(work))
    git(work, "switch", "-q", "-C", branch)
    (work / "calc.py").write_text(content)
    git(work, "commit", "-q", "-am", f"change on {branch}")
    git(work, "push", "-q", "--force", "origin", f"HEAD:refs/heads/{branch}")
    return git(work, "rev-parse", "HEAD")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    isolate_git(tmp_path, monkeypatch)
    return make_project(tmp_path / "p", dirty=False)


def test_shas_come_from_the_bare_repository_and_merge_is_real(project) -> None:
    calc = (project.checkout / "calc.py").read_text()
    head = push_branch(
        project.root, project.origin, "cm/sub", calc + "\n\ndef sub(a, b):\n    return a - b\n"
    )
    with FakeGitHub(repos=(REPO,)) as fake:
        fake.git_remotes[REPO] = str(project.origin)
        pull = open_pull(fake, head="cm/sub")
        main = git(project.origin, "rev-parse", "refs/heads/main")
        assert (pull.head.sha, pull.base.sha) == (head, main)
        assert (pull.mergeable, pull.mergeable_state) == (True, "clean")

        comment = fake.add_review_comment(REPO, 1, REVIEWER, "calc.py", 6, "Docstring?")
        [listed] = pull.get_review_comments()
        assert listed.diff_hunk.startswith("@@ -1,3 +1,7 @@")
        assert (
            listed.diff_hunk.endswith("+def sub(a, b):")
            and listed.position == comment.position == 6
        )
        with pytest.raises(ValueError, match="not part of the diff"):
            fake.add_review_comment(REPO, 1, REVIEWER, "calc.py", 99, "far away")

        pull.update()
        pushed_before = pull.updated_at
        newer = push_branch(project.root, project.origin, "cm/sub", calc + "\n# v2\n")
        fake.add_check_run(REPO, "cm/sub", "tests", conclusion="success")  # a branch names its tip
        by_branch = client(fake).get_repo(REPO).get_commit("cm/sub")
        assert by_branch.sha == newer and by_branch.parents[0].sha == main
        assert [r.head_sha for r in by_branch.get_check_runs()] == [newer]
        assert pull.update() is True and pull.head.sha == newer
        assert pull.updated_at > pushed_before  # a push moves updated_at, as on GitHub
        merged = fake.merge(REPO, 1, by=REVIEWER)
        tip = git(project.origin, "rev-parse", "refs/heads/main")
        assert merged.merge_commit_sha == tip
        assert git(project.origin, "rev-list", "--parents", "-n1", tip).split()[1:] == [main, newer]
        assert git(project.origin, "show", "-s", "--format=%an%n%s", tip).splitlines() == [
            REVIEWER,
            "Merge pull request #1 from octo/cm/sub",
        ]
        assert git(project.origin, "show", f"{tip}:calc.py") == (calc + "\n# v2\n").strip()
        after = client(fake).get_repo(REPO).get_pull(1)
        assert (after.merged, after.state, after.merge_commit_sha) == (True, "closed", tip)
        assert after.head.sha == newer  # pinned at the merge
        assert client(fake).get_repo(REPO).get_commit(tip).commit.message.startswith("Merge pull")


def test_a_conflicting_pull_request_is_dirty_and_will_not_merge(project) -> None:
    calc = (project.checkout / "calc.py").read_text()
    with FakeGitHub(repos=(REPO,), git_remotes={REPO: project.origin}) as fake:
        push_branch(project.root, project.origin, "feature", calc.replace("a + b", "b + a"))
        push_branch(project.root, project.origin, "main", calc.replace("a + b", "sum((a, b))"))
        pull = open_pull(fake)
        assert (pull.mergeable, pull.mergeable_state) == (False, "dirty")
        old = fake.add_review_comment(REPO, 1, REVIEWER, "calc.py", 3, "was", side="LEFT")
        new = fake.add_review_comment(REPO, 1, REVIEWER, "calc.py", 3, "is")
        assert old.diff_hunk.endswith("\n-    return a + b") and old.side == "LEFT"
        assert new.diff_hunk.endswith("\n+    return b + a") and new.position == old.position + 1
        main = git(project.origin, "rev-parse", "refs/heads/main")
        with pytest.raises(MergeConflict, match="does not merge cleanly"):
            fake.merge(REPO, 1)
        assert git(project.origin, "rev-parse", "refs/heads/main") == main
        assert client(fake).get_repo(REPO).get_pull(1).state == "open"


def test_a_branch_missing_from_the_bare_repository_leaves_mergeability_unknown(project) -> None:
    with FakeGitHub(repos=(REPO,), git_remotes={REPO: project.origin}) as fake:
        pull = open_pull(fake, head="never-pushed")
        assert (pull.mergeable, pull.mergeable_state) == (None, "unknown")
        with pytest.raises(MergeConflict, match="never-pushed or main is not a branch"):
            fake.merge(REPO, 1)
