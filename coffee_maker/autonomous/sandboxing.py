"""The sandbox an iteration runs the model's code in: which of the user's paths it hides.

The agent layer knows how to build a bwrap command line; only here is it known which
directories are the user's checkout, its git directory and the per-repository state, so
the policy for one worktree is decided here, in one call.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from coffee_maker.agent.sandbox import Sandbox
from coffee_maker.agent.settings import AgentSettings
from coffee_maker.autonomous.state import state_dir
from coffee_maker.paths import user_config_dir, user_state_dir


def make_sandbox(
    settings: AgentSettings,
    *,
    repo: Path,
    worktree: Path,
    extra_writable: Iterable[Path] = (),
) -> Sandbox | None:
    """The sandbox for commands run in ``worktree`` of ``repo``; None with ``agent.sandbox:
    none``. ``extra_writable``: e.g. the worktree's test environment outside it.

    Hidden: the user's checkout, the user state dir (ledger, quotas, other worktrees), the
    user config dir (the env file with keys) and the per-repository state (transcripts,
    state.json). Read-only again: the git directory a linked worktree needs to work (and
    hatch-vcs or setuptools-scm read to version the project).
    """
    if settings.sandbox.mode == "none":
        return None
    per_repo = state_dir(repo)
    return Sandbox(
        writable=(Path(worktree), *extra_writable),
        hidden=(Path(repo), user_state_dir(), user_config_dir(), per_repo),
        readonly=(per_repo.parent,),
        network=settings.sandbox.network,
    )
