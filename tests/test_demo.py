"""``code-developer demo``: a newcomer's first command, offline, with no key and no config."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from daemon_support import CODE_DEVELOPER, git


def test_demo_opens_a_pr_offline_without_touching_the_users_setup(tmp_path: Path) -> None:
    home = tmp_path / "user-home"
    broken = tmp_path / "broken.yaml"
    broken.write_text("providers: [this is not a mapping\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))},
        "TMPDIR": str(tmp_path),  # where the throw-away repository goes
        "COFFEE_MAKER_HOME": str(home),  # the user's state: the demo must not write here
        "CODE_DEVELOPER_CONFIG": str(broken),  # the user's config: the demo must not read it
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
    }
    (tmp_path / "gitconfig").write_text("[commit]\n\tgpgsign = true\n")  # would fail a commit
    began = time.monotonic()
    demo = subprocess.run(
        [CODE_DEVELOPER, "demo"], capture_output=True, text=True, env=env, timeout=90
    )
    elapsed = time.monotonic() - began

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert elapsed < 60
    out = demo.stdout
    assert "The model is SCRIPTED" in out and "No AI is used" in out
    assert re.search(
        r"PRIORITY 1: opened pull request http://127\.0\.0\.1:\d+/demo/calculator/pull/1", out
    )
    assert "title:  PRIORITY 1: Add a subtract function\n" in out
    assert "branch: coffee-maker/priority-1-add-a-subtract-function -> main" in out
    assert (
        "tests:  Verdict: passed (2 passed; baseline 1 passed) "
        "(`python3 -m unittest discover -s tests -q`)."
    ) in out
    assert "calculator.py" in out and "tests/test_subtract.py" in out and "ROADMAP.md" in out
    assert "| Added subtract(a, b) to calculator.py" in out

    origin = Path(re.search(r"its origin, with the pushed branch: +(\S+)", out).group(1))
    checkout = Path(re.search(r"its checkout was never touched\): +(\S+)", out).group(1))
    assert origin.parent.parent == tmp_path and (origin.parent / "home" / "ledger.jsonl").exists()
    pushed = git(origin, "show", "coffee-maker/priority-1-add-a-subtract-function:calculator.py")
    assert "def subtract" in pushed
    assert git(checkout, "status", "--porcelain") == ""
    assert not home.exists()  # nothing written to the user's state
