"""Hostile model servers and patterns through ``code-developer --once``: every run ends,
in time, with a clear outcome and no pull request built on a broken reply."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import (
    Project,
    fakes_running,
    implement_subtract,
    isolate_git,
    make_project,
    turn,
)

TIMEOUT = 3


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    with fakes_running(project) as running:
        config = project.config.read_text().replace("timeout: 60", f"timeout: {TIMEOUT}")
        project.config.write_text(config)
        yield project, running.model, running.github


def _run_once(project: Project) -> tuple[object, float]:
    started = time.monotonic()
    done = project.run("--once", timeout=120)
    return done, time.monotonic() - started


def test_a_trickling_model_server_ends_the_run_in_time_without_a_pr(setup) -> None:
    project, model, github = setup
    model.trickle(times=5)
    done, elapsed = _run_once(project)

    assert done.returncode == 75, (done.stdout, done.stderr)
    assert "no provider is available" in done.stdout
    assert "timeout" in done.stdout and f"deadline of {TIMEOUT} s" in done.stdout
    assert "Traceback" not in done.stderr
    assert len(model.model_calls) == 1  # retry_attempts: 1
    # one call's deadline, plus the CLI's start and the worktree's set-up and removal
    assert elapsed < TIMEOUT + 20
    assert github.pulls == []
    assert project.state()["priorities"]["PRIORITY 1"]["attempts"] == 0


def test_a_huge_model_reply_is_refused_and_the_run_ends_without_a_pr(setup) -> None:
    project, model, github = setup
    model.huge_reply(100 * 1024 * 1024)
    done, _ = _run_once(project)

    assert done.returncode == 75, (done.stdout, done.stderr)
    assert "bad_response" in done.stdout and "larger than 16 MiB" in done.stdout
    assert "Traceback" not in done.stderr
    assert github.pulls == []


def test_a_regex_bomb_from_the_model_is_a_tool_error_and_the_run_goes_on(setup) -> None:
    project, model, github = setup
    model.script(
        [
            turn(("write_file", {"path": "long.txt", "content": "x" * 5000 + "\n"})),
            turn(("search", {"pattern": "(x+x+)+y"})),
            *implement_subtract(),
        ]
    )
    done, _ = _run_once(project)

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert len(github.pulls) == 1
    after_search = model.model_calls[2].json["messages"][-1]
    assert after_search["role"] == "tool"
    assert "search timed out" in after_search["content"]
    assert "simplify the pattern" in json.dumps(after_search)
