"""What the daemon's end-to-end tests share: a project with an origin, fakes, and the CLI.

The project is a real git repository with a ROADMAP.md and a tiny unittest suite (so the
target needs no pytest), a bare ``origin``, and the user's checkout left dirty and on
another branch in every way git knows, so that any touch of it shows. The model is
FakeOpenAI driven through the real openai SDK and the real openai provider; GitHub is
FakeGitHub driven through the real PyGithub. ``code-developer`` runs as a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.scripted import ScriptedCall, Turn

MODEL_KEY = "sk-test-e2eModelKey0123456789abcdef"
GITHUB_TOKEN = "ghp_e2eGithubToken0123456789abcdefABCD"
GITHUB_REPO = "octo/calc"
MODEL = "gpt-test-model"
TEST_COMMAND = "python3 -m unittest discover -s tests -q"
CODE_DEVELOPER = str(Path(sys.executable).with_name("code-developer"))

CALC = 'def add(a, b):\n    """a plus b."""\n    return a + b\n'
CALC_TEST = """\
import unittest

from calc import add


class AddTest(unittest.TestCase):
    def test_add(self):
        self.assertEqual(add(2, 3), 5)
"""
ROADMAP = """\
# Calculator roadmap

Some words before the first priority.

## PRIORITY 1: Add subtract 📝

**Status**: 📝 Planned

Add `subtract(a, b)` to calc.py, with a test.

## PRIORITY 2: Add multiply 📝

**Status**: 📝 Planned
**Dependencies**: PRIORITY 1

Add `multiply(a, b)` to calc.py.

## PRIORITY 3: Add a usage note 📝

**Status**: 📝 Planned

Write USAGE.md saying how to call add().
"""
SUBTRACT_BRANCH = "coffee-maker/priority-1-add-subtract"
USAGE_BRANCH = "coffee-maker/priority-3-add-a-usage-note"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    identity = ("-c", "user.name=User", "-c", "user.email=user@example.com")
    proc = subprocess.run(["git", *identity, *args], cwd=cwd, capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@dataclass
class Project:
    root: Path
    origin: Path
    checkout: Path
    config: Path
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The subprocess's environment: isolated home and git config, the two secrets."""
        env = dict(os.environ)
        env.update(
            COFFEE_MAKER_HOME=str(self.home),
            OPENAI_API_KEY=MODEL_KEY,
            GITHUB_TOKEN=GITHUB_TOKEN,
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        command = [CODE_DEVELOPER, "--repo", str(self.checkout), "--config", str(self.config)]
        return subprocess.run(
            [*command, *args],
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        command = [CODE_DEVELOPER, "--repo", str(self.checkout), "--config", str(self.config)]
        return subprocess.Popen(
            [*command, *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def write_config(self, model_url: str, github_url: str, **sections: dict[str, Any]) -> None:
        """The YAML config pointing at the fakes; ``sections`` are merged over the defaults."""
        data: dict[str, Any] = {
            "default_provider": "openai",
            "providers": {
                "openai": {
                    "model": MODEL,
                    "base_url": f"{model_url}/v1",
                    "api_key_env": "OPENAI_API_KEY",
                    "timeout": 60,
                    "pricing": {"input": 3.0, "output": 15.0},
                }
            },
            "fallback": {"retry_attempts": 1, "retry_delay": 0.0},
            "agent": {"max_repairs": 0},
            "daemon": {"test_command": TEST_COMMAND, "interval": 1},
            "github": {"repo": GITHUB_REPO, "api_url": github_url, "token_env": "GITHUB_TOKEN"},
        }
        for name, values in sections.items():
            data[name] = {**data.get(name, {}), **values}
        self.config.write_text(yaml.safe_dump(data, sort_keys=False))

    def ledger(self) -> list[dict[str, Any]]:
        path = self.home / "ledger.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [json.loads(line) for line in lines]

    def calls(self) -> list[dict[str, Any]]:
        return [r for r in self.ledger() if r["kind"] == "call"]

    def state(self) -> dict[str, Any]:
        path = self.checkout / ".git" / "coffee-maker" / "state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def worktrees(self) -> list[str]:
        listing = git(self.checkout, "worktree", "list", "--porcelain")
        registered = [line for line in listing.splitlines() if line.startswith("worktree ")]
        ours = self.home / "worktrees"  # <COFFEE_MAKER_HOME>/worktrees/<repo>-<hash>/<name>
        on_disk = [p.name for p in ours.glob("*/*") if p.is_dir()]
        return registered[1:] + on_disk

    def clone_branch(self, branch: str, where: Path) -> Path:
        git(self.root, "clone", "-q", "--branch", branch, str(self.origin), str(where))
        return where


def make_project(root: Path, branch: str = "main", *, dirty: bool = True) -> Project:
    """A project on ``origin`` (whose default branch is ``branch``) and the user's clone
    of it; ``dirty``: the clone is on a branch of theirs, with every kind of local change."""
    seed, origin, checkout = root / "seed", root / "origin.git", root / "checkout"
    seed.mkdir(parents=True)
    git(seed, "init", "-q", "-b", branch)
    (seed / "tests").mkdir()
    (seed / "calc.py").write_text(CALC)
    (seed / "tests" / "test_calc.py").write_text(CALC_TEST)
    (seed / "ROADMAP.md").write_text(ROADMAP)
    git(seed, "add", ".")
    git(seed, "commit", "-q", "-m", "calculator and roadmap")
    git(root, "init", "-q", "--bare", "-b", branch, str(origin))
    git(seed, "push", "-q", str(origin), branch)
    git(root, "clone", "-q", str(origin), str(checkout))
    if dirty:
        git(checkout, "switch", "-q", "-c", "my-feature")
        (checkout / "calc.py").write_text(CALC + "# stashed\n")
        git(checkout, "stash", "push", "-q", "-m", "user stash")
        (checkout / "calc.py").write_text(CALC + "# unstaged edit\n")
        (checkout / "ROADMAP.md").write_text(ROADMAP + "\nstaged local roadmap edit\n")
        git(checkout, "add", "ROADMAP.md")
        (checkout / "notes.txt").write_text("untracked\n")
    return Project(root, origin, checkout, root / "config.yaml", root / "home")


def snapshot(repo: Path) -> dict[str, object]:
    """Everything of the user's checkout that must never change: files, index, HEAD, stash."""
    gitdir = repo / ".git"
    index = (gitdir / "index").read_bytes()  # before any command that might refresh it
    files = {
        p.relative_to(repo).as_posix(): p.read_bytes()
        for p in repo.rglob("*")
        if p.is_file() and p.relative_to(repo).parts[0] != ".git"
    }
    refs = git(
        repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/stash"
    )
    return {
        "index": index,
        "files": files,
        "HEAD": (gitdir / "HEAD").read_text(),
        "config": (gitdir / "config").read_bytes(),
        "stash": git(repo, "stash", "list"),
        "user refs": [r for r in refs.splitlines() if "coffee-maker/" not in r],
    }


# -- scripts: what the scripted model does, turn by turn -------------------------------------

USAGE = 1000, 200  # input and output tokens a turn: $0.006 at the config's prices


def turn(*calls: tuple[str, dict[str, Any]], text: str = "") -> Turn:
    return Turn(
        text=text,
        tool_calls=[ScriptedCall(name, args) for name, args in calls],
        input_tokens=USAGE[0],
        output_tokens=USAGE[1],
    )


SUBTRACT = CALC + '\n\ndef subtract(a, b):\n    """a minus b."""\n    return a - b\n'
BROKEN_SUBTRACT = CALC + "\n\ndef subtract(a, b):\n    return a + b  # wrong\n"
SUBTRACT_TEST = textwrap.dedent("""\
    import unittest

    from calc import subtract


    class SubtractTest(unittest.TestCase):
        def test_subtract(self):
            self.assertEqual(subtract(5, 3), 2)
    """)


def implement_subtract(calc: str = SUBTRACT, summary: str = "Added subtract().") -> list[Turn]:
    """read_file, edit_file (+ a new test), run_tests, finish: four model calls."""
    return [
        turn(("read_file", {"path": "calc.py"}), text="Reading the code first."),
        turn(
            ("write_file", {"path": "calc.py", "content": calc}),
            ("write_file", {"path": "tests/test_subtract.py", "content": SUBTRACT_TEST}),
        ),
        turn(("run_tests", {})),
        turn(("finish", {"summary": summary})),
    ]


def edit_subtract() -> list[Turn]:
    """As the lead asked: read_file, edit_file, run_tests, finish (tests pass)."""
    old, new = "    return a + b\n", "    return a + b\n" + SUBTRACT[len(CALC) :]
    return [
        turn(("read_file", {"path": "calc.py"})),
        turn(
            ("edit_file", {"path": "calc.py", "old_text": old, "new_text": new}),
            ("write_file", {"path": "tests/test_subtract.py", "content": SUBTRACT_TEST}),
        ),
        turn(("run_tests", {})),
        turn(("finish", {"summary": f"Added subtract() to calc.py. key check: {MODEL_KEY}"})),
    ]


def write_usage_note() -> list[Turn]:
    return [
        turn(("write_file", {"path": "USAGE.md", "content": "Call add(a, b).\n"})),
        turn(("finish", {"summary": "Wrote USAGE.md."})),
    ]


def all_text(paths: Iterable[Path]) -> str:
    return "\n".join(p.read_text(errors="replace") for p in paths if p.is_file())


# -- the whole set-up of an end-to-end test --------------------------------------------------


def isolate_git(root: Path, monkeypatch: Any) -> Path:
    """No user or system git config may change what git does in a test; returns the file."""
    config = root / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return config


@dataclass
class Setup:
    """A project, the scripted model it is configured for, and the fake GitHub."""

    project: Project
    model: FakeOpenAI
    github: FakeGitHub


@contextmanager
def fakes_running(project: Project, **sections: dict[str, Any]) -> Iterator[Setup]:
    """FakeOpenAI and FakeGitHub serving, and ``project``'s config pointing at them; the
    fake GitHub reads its pull requests' commits from ``project``'s bare origin."""
    remotes = {GITHUB_REPO: str(project.origin)}
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_TOKEN, git_remotes=remotes) as github,
    ):
        project.write_config(model.url, github.url, **sections)
        yield Setup(project, model, github)
