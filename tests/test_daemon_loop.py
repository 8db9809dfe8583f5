"""``DevDaemon`` forever: systemd notifications, clean stops, sleeping through outages, crashes.

The daemon runs as a real ``code-developer`` process (no ``--once``), with NOTIFY_SOCKET
pointing at a datagram socket this test binds, exactly as systemd would set it up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from daemon_support import (
    CODE_DEVELOPER,
    GITHUB_REPO,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    Project,
    git,
    implement_subtract,
    make_project,
)

from coffee_maker.autonomous.daemon import DevDaemon
from coffee_maker.autonomous.run_endings import RunOptions
from coffee_maker.autonomous.service import SystemdNotifier
from coffee_maker.cli.common import load_app_config
from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI


class NotifySocket:
    """What systemd listens on: collects every datagram the daemon sends."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="cm-notify-", dir="/tmp")  # short: AF_UNIX limit
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def fields(self, name: str) -> list[str]:
        prefix = f"{name}="
        return [
            line[len(prefix) :]
            for message in list(self.messages)
            for line in message.splitlines()
            if line.startswith(prefix)
        ]

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()
        os.unlink(self.path)
        os.rmdir(self.dir)


@dataclasses.dataclass
class Daemon:
    project: Project
    model: FakeOpenAI
    github: FakeGitHub
    notify: NotifySocket
    log: Path
    process: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        env = self.project.env(NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC="400000")
        command = [CODE_DEVELOPER, "--repo", str(self.project.checkout)]
        command += ["--config", str(self.project.config), "--interval", "1"]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log, text=True)
        return self.process

    def events(self) -> list[dict]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


def wait_for(condition: Callable[[], object], timeout: float = 20, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.05)


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    (tmp_path / "gitconfig").write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    project = make_project(tmp_path)
    notify = NotifySocket()
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github,
    ):
        project.write_config(model.url, github.url)
        running = Daemon(project, model, github, notify, tmp_path / "daemon.log")
        try:
            yield running
        finally:
            if running.process is not None and running.process.poll() is None:
                running.process.kill()
                running.process.wait()
            notify.close()


def test_speaks_sd_notify_and_stops_cleanly_on_sigterm(daemon: Daemon) -> None:
    daemon.model.script(implement_subtract())
    started = time.monotonic()
    daemon.start()
    wait_for(lambda: daemon.notify.fields("READY"), what="READY=1")
    wait_for(lambda: len(daemon.github.pulls) == 1, what="the pull request")
    wait_for(lambda: any("opened pull request" in s for s in daemon.notify.fields("STATUS")))
    wait_for(lambda: len(daemon.notify.fields("WATCHDOG")) >= 3, what="WATCHDOG=1 pings")
    assert daemon.notify.fields("READY") == ["1"]
    assert any("the model is working" in s for s in daemon.notify.fields("STATUS"))
    # Nothing is left to do (PRIORITY 1 awaits review, 2 depends on it, 3 has no script):
    wait_for(lambda: "sleeping until" in " ".join(daemon.notify.fields("STATUS")))

    stopping = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - stopping < 5
    assert daemon.notify.fields("STOPPING") == ["1"]
    assert daemon.project.state()["daemon"] is None  # it said goodbye
    assert time.monotonic() - started < 30


def test_sigterm_during_a_model_call_records_the_interruption(daemon: Daemon) -> None:
    turns = implement_subtract()
    daemon.model.reply(turns[0])
    slow = dataclasses.replace  # the second reply takes 2 s to come
    daemon.model.enqueue(lambda req: slow(daemon.model.render_turn(turns[1], req), delay=2))
    daemon.start()
    wait_for(lambda: len(daemon.model.model_calls) == 2, what="the slow model call")
    assert daemon.stop() == 0
    assert daemon.notify.fields("STOPPING") == ["1"]
    assert len(daemon.model.model_calls) == 2  # no model call started after the stop
    state = daemon.project.state()
    history = state["priorities"]["PRIORITY 1"]["history"]
    assert history[-1]["outcome"] == "deferred"
    assert "interrupted during agent" in history[-1]["error"]
    assert state["current"] is None and daemon.project.worktrees() == []


def test_sleeps_until_the_reset_when_every_provider_is_out_of_quota(daemon: Daemon) -> None:
    daemon.model.error(429, "You exceeded your current quota.", code="insufficient_quota")
    daemon.start()
    wait_for(lambda: "sleeping until" in " ".join(daemon.notify.fields("STATUS")))
    next_run = datetime.fromisoformat(daemon.project.state()["daemon"]["next_run_at"])
    assert (next_run - datetime.now(UTC)).total_seconds() > 120  # the cooldown: 300 s
    time.sleep(3)  # three intervals: a spinning daemon would have called again
    assert len(daemon.model.model_calls) == 1
    record = daemon.project.state()["priorities"]["PRIORITY 1"]
    assert record["last_outcome"] == "deferred" and record["attempts"] == 0
    assert "quota" in record["last_error"]
    assert daemon.stop() == 0


def test_a_crashing_iteration_is_logged_and_retried_with_backoff(daemon: Daemon) -> None:
    project = daemon.project
    seed = project.root / "fixer"
    git(project.root, "clone", "-q", str(project.origin), str(seed))
    roadmap = (seed / "ROADMAP.md").read_text()
    (seed / "ROADMAP.md").write_bytes(roadmap.encode() + b"\xff\n")
    git(seed, "commit", "-qam", "a roadmap that is not UTF-8")
    git(seed, "push", "-q", "origin", "main")

    daemon.start()
    crashes = lambda: [e for e in daemon.events() if e["event"].startswith("iteration crashed")]  # noqa: E731
    wait_for(lambda: len(crashes()) >= 2, what="two crashes")
    assert [c["retry_in"] for c in crashes()[:2]] == [2, 4]  # interval 1 s, doubling
    assert "not UTF-8 text" in crashes()[0]["error"]
    assert daemon.process is not None and daemon.process.poll() is None  # it goes on

    (seed / "ROADMAP.md").write_text(roadmap)
    git(seed, "commit", "-qam", "fix the roadmap")
    git(seed, "push", "-q", "origin", "main")
    daemon.model.script(implement_subtract())
    wait_for(lambda: len(daemon.github.pulls) == 1, timeout=20, what="recovery")
    assert daemon.stop() == 0


def test_a_stop_abandons_an_iteration_stuck_past_the_grace_period(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, so the grace period can be short; the CLI then exits without waiting."""
    project = daemon.project
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    turns = implement_subtract()
    daemon.model.reply(turns[0])
    daemon.model.enqueue(
        lambda req: dataclasses.replace(daemon.model.render_turn(turns[1], req), delay=2)
    )
    # A call the stop cannot cut short (a provider whose I/O is not ours to cancel): the
    # grace period is then the last resort.
    monkeypatch.setattr("coffee_maker.autonomous.daemon.cancel_calls", lambda: 0)
    config = load_app_config(str(project.config), str(project.checkout))
    service = DevDaemon(
        config, RunOptions(repo=project.checkout), notifier=SystemdNotifier({}), stop_grace=0.3
    )

    def stop_during_the_slow_call() -> None:
        wait_for(lambda: len(daemon.model.model_calls) == 2)
        service.request_stop()

    stopper = threading.Thread(target=stop_during_the_slow_call)
    stopper.start()
    began = time.monotonic()
    assert service.serve() == 0
    assert time.monotonic() - began < 10 and service.abandoned and service.busy
    state = project.state()
    assert state["current"] is None and project.worktrees() == []
    assert "abandoned" in state["priorities"]["PRIORITY 1"]["last_error"]
    stopper.join()
    wait_for(lambda: not service.busy, what="the abandoned iteration to end")
