"""``code-developer demo``: the whole flow, offline, in seconds, with a SCRIPTED model.

It is how a newcomer sees what the daemon does before giving it a key: a throw-away
repository with a ROADMAP.md and tests, a local bare ``origin``, a local fake GitHub and a
local fake model server that replays a fixed script of tool calls (read a file, edit it,
add a test, run the tests, finish). No AI is involved and nothing leaves the machine. The
iteration itself is the real one: worktree, agent loop over the real OpenAI SDK and HTTP,
the harness's own test run, commit, push, pull request, ledger and state. The user's
environment and configuration are not read or changed: the demo's config is built here,
and its keys and state exist only inside the demo.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path

from coffee_maker.ai_providers.provider_config import parse_config
from coffee_maker.autonomous.daemon import DevDaemon
from coffee_maker.autonomous.run_endings import Ending, IterationResult, RunOptions
from coffee_maker.autonomous.state import state_dir
from coffee_maker.config import AppConfig
from coffee_maker.fakes.github import FakeGitHub
from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.scripted import ScriptedCall, Turn

GITHUB_REPO = "demo/calculator"
MODEL = "scripted-demo-model"
#: Dummy credentials the fakes check, so the real authentication path runs. Not secrets.
MODEL_KEY = "demo-model-key-not-a-secret"
GITHUB_KEY = "demo-github-token-not-a-secret"
BODY_EXCERPT_LINES = 14

FILES = {
    "calculator.py": '''\
        """A tiny calculator: the project the demo's scripted model works on."""


        def add(a: float, b: float) -> float:
            return a + b
        ''',
    "tests/test_calculator.py": """\
        import unittest

        from calculator import add


        class AddTest(unittest.TestCase):
            def test_add(self) -> None:
                self.assertEqual(add(2, 3), 5)
        """,
    "ROADMAP.md": """\
        # Calculator roadmap

        ## PRIORITY 1: Add a subtract function 📝

        **Status**: 📝 Planned

        Add `subtract(a, b)` to calculator.py, returning a minus b, with a unit test.

        ## PRIORITY 2: Add a multiply function 📝

        **Status**: 📝 Planned
        **Dependencies**: PRIORITY 1

        Add `multiply(a, b)` to calculator.py, with a unit test.
        """,
}

SUBTRACT = '''

def subtract(a: float, b: float) -> float:
    """a minus b."""
    return a - b
'''

SUBTRACT_TEST = """\
import unittest

from calculator import subtract


class SubtractTest(unittest.TestCase):
    def test_subtract(self) -> None:
        self.assertEqual(subtract(5, 3), 2)
"""

SUMMARY = (
    "Added subtract(a, b) to calculator.py and a unit test for it in "
    "tests/test_subtract.py; the test suite passes."
)


def script() -> list[Turn]:
    """What the scripted "model" says, turn by turn: the tool calls a real model would make."""
    old = "    return a + b\n"
    edit = {"path": "calculator.py", "old_text": old, "new_text": old + SUBTRACT}
    test = {"path": "tests/test_subtract.py", "content": SUBTRACT_TEST}
    return [
        Turn(
            "Let me look at the code first.", [ScriptedCall("read_file", {"path": "calculator.py"})]
        ),
        Turn(
            "I will add subtract() and a test.",
            [ScriptedCall("edit_file", edit), ScriptedCall("write_file", test)],
        ),
        Turn(tool_calls=[ScriptedCall("run_tests", {})]),
        Turn(tool_calls=[ScriptedCall("finish", {"summary": SUMMARY})]),
    ]


def demo_config(model_url: str, github_url: str) -> AppConfig:
    """An explicit config: the user's config files and environment are never consulted."""
    data = {
        "default_provider": "scripted",
        "providers": {
            "scripted": {
                "type": "openai",
                "model": MODEL,
                "base_url": f"{model_url}/v1",
                "api_key_env": "COFFEE_MAKER_DEMO_MODEL_KEY",
                "timeout": 30,
                "pricing": {"input": 0.0, "output": 0.0},
            }
        },
        "fallback": {"retry_attempts": 1, "fallback_order": ["scripted"]},
        "daemon": {"test_command": "python3 -m unittest discover -s tests -q"},
        "github": {
            "repo": GITHUB_REPO,
            "api_url": github_url,
            "token_env": "COFFEE_MAKER_DEMO_GITHUB_KEY",
        },
    }
    return parse_config(data, "the demo's built-in config", environ={})


def git(cwd: Path, *args: str) -> str:
    """git with the demo's own identity and no signing, whatever the user's git config says."""
    identity = ("-c", "user.name=coffee-maker demo", "-c", "user.email=demo@localhost")
    command = ["git", *identity, "-c", "commit.gpgsign=false", *args]
    return subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True).stdout


def build_repository(root: Path) -> tuple[Path, Path]:
    """The project's bare ``origin`` and a checkout of it: (checkout, origin)."""
    origin, checkout = root / "origin.git", root / "calculator"
    git(root, "init", "-q", "--bare", "-b", "main", str(origin))
    git(root, "init", "-q", "-b", "main", str(checkout))
    for name, text in FILES.items():
        path = checkout / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    git(checkout, "add", ".")
    git(checkout, "commit", "-q", "-m", "A calculator with a roadmap")
    git(checkout, "remote", "add", "origin", str(origin))
    git(checkout, "push", "-q", "origin", "main")
    return checkout, origin


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in os.environ for the demo's duration, the previous values restored after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_demo(verbose: bool = False) -> int:
    from coffee_maker.logging import configure_logging

    configure_logging(verbose=verbose)
    if not verbose:
        logging.getLogger().setLevel(logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="coffee-maker-demo-"))
    print("coffee-maker demo: one real iteration, offline.")
    print("The model is SCRIPTED: a local fake server replays fixed tool calls. No AI is used,")
    print("no key is needed and nothing leaves this machine.\n")
    checkout, origin = build_repository(root)
    secrets = {"COFFEE_MAKER_DEMO_MODEL_KEY": MODEL_KEY, "COFFEE_MAKER_DEMO_GITHUB_KEY": GITHUB_KEY}
    with (
        FakeOpenAI(api_key=MODEL_KEY, models=[MODEL]) as model,
        FakeGitHub(repos=(GITHUB_REPO,), token=GITHUB_KEY) as github,
        environment({"COFFEE_MAKER_HOME": str(root / "home"), **secrets}),
    ):
        model.script(script())
        daemon = DevDaemon(
            demo_config(model.url, github.url),
            RunOptions(repo=checkout),
            on_step=lambda step: print(f"  ... {step}", flush=True),
        )
        result = daemon.once()
        print(f"\n{result.message}\n")
        if result.ending is Ending.PR_OPENED:
            show_pull_request(github, result, origin)
    show_files(root, checkout, origin)
    return 0 if result.ending is Ending.PR_OPENED else 1


def show_pull_request(github: FakeGitHub, result: IterationResult, origin: Path) -> None:
    pull = github.pulls[-1]
    files = git(origin, "diff", "--stat", f"main...{result.branch}").rstrip()
    body = (pull.body or "").strip().splitlines()
    verdict = next((line for line in body if "Verdict" in line), "").replace("**", "")
    print("The pull request it opened (on the local fake GitHub, gone when the demo ends):")
    print(f"  title:  {pull.title}{'  [draft]' if pull.draft else ''}")
    print(f"  url:    {result.pr_url}")
    print(f"  branch: {pull.head} -> {pull.base}")
    print(f"  tests:  {verdict.strip('> ')}")
    print("  files changed:")
    print(textwrap.indent(files, "    "))
    print("  body (first lines):")
    excerpt = "\n".join(body[:BODY_EXCERPT_LINES])
    print(textwrap.indent(excerpt, "    | ", predicate=lambda line: True))


def show_files(root: Path, checkout: Path, origin: Path) -> None:
    runs = sorted((state_dir(checkout) / "runs").glob("*.jsonl"))
    print("\nWhere things are (delete them when done: rm -rf " + str(root) + "):")
    print(f"  the project (its checkout was never touched): {checkout}")
    print(f"  its origin, with the pushed branch:           {origin}")
    if runs:
        print(f"  the model's transcript:                       {runs[-1]}")
    print(f"  the cost ledger:                              {root / 'home' / 'ledger.jsonl'}")
    print("\nNext: run `code-developer --help`, then `project-manager setup` to add a real key.")
