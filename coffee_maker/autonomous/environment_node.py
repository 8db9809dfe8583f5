"""The JavaScript test environment: ``node_modules`` installed in the worktree.

``npm test`` commonly runs linters and type checkers (xo, tsd, eslint) from
``node_modules/.bin``; a fresh worktree has no ``node_modules``, so without this step the
tests fail with "not found" whatever the change. The lockfile says which package manager
the project uses, and the install is frozen to it; downloads go to a cache under the user
state directory, so the next worktree's install is mostly a copy.
"""

from __future__ import annotations

import time
from pathlib import Path

from coffee_maker.autonomous.environment import (
    Setup,
    TestEnvironment,
    dependency_hash,
    prepend_path,
    require_program,
)

#: In ``node_modules``: the dependency hash it was installed for (a re-prepare skips it).
MARKER = ".coffee-maker-env"
#: lockfile -> the install that keeps to it. First match wins.
INSTALLS: tuple[tuple[str, list[str]], ...] = (
    ("pnpm-lock.yaml", ["pnpm", "install", "--frozen-lockfile"]),
    ("yarn.lock", ["yarn", "install", "--frozen-lockfile"]),
    ("package-lock.json", ["npm", "ci", "--no-audit", "--no-fund"]),
    ("npm-shrinkwrap.json", ["npm", "ci", "--no-audit", "--no-fund"]),
)
#: Without a lockfile: install, but write none (it would end up in the model's commit).
NO_LOCKFILE = ["npm", "install", "--no-audit", "--no-fund", "--no-package-lock"]


def is_node_project(worktree: Path) -> bool:
    return (worktree / "package.json").is_file()


def dependency_files(worktree: Path) -> list[Path]:
    names = ["package.json", *(lockfile for lockfile, _ in INSTALLS)]
    return [worktree / name for name in names if (worktree / name).is_file()]


def install_command(worktree: Path) -> tuple[list[str], str]:
    """The install for this worktree and why (the lockfile that asked for it)."""
    for lockfile, command in INSTALLS:
        if (worktree / lockfile).is_file():
            return command, lockfile
    return NO_LOCKFILE, "package.json without a lockfile"


def prepare(setup: Setup, started: float) -> TestEnvironment:
    worktree = setup.worktree
    key = dependency_hash(worktree, dependency_files(worktree), "node")
    marker = worktree / "node_modules" / MARKER
    reused = marker.is_file() and marker.read_text(encoding="utf-8").strip() == key
    if not reused:
        command, why = install_command(worktree)
        program = require_program(command[0], setup.env, why)
        setup.run([program, *command[1:]], shown=" ".join(command))
        marker.parent.mkdir(exist_ok=True)
        marker.write_text(key + "\n", encoding="utf-8")
    return TestEnvironment(
        "node",
        {"PATH": prepend_path(worktree / "node_modules" / ".bin", setup.env)},
        (),
        key,
        reused,
        time.monotonic() - started,
        tuple(setup.steps),
        setup.log_tail(),
    )
