"""The last look before a commit: no secret of this machine leaves in the change itself.

Redaction guards what the daemon *says* (logs, PR bodies, commit messages); this guards
what it *commits*, and so pushes. An agent CLI's shell can read outside the worktree (a
token in ``~/.git-credentials``), and a model can be talked into writing what it read.
"""

from __future__ import annotations

from pathlib import Path

from coffee_maker.autonomous.git_command import GitError
from coffee_maker.autonomous.git_command import git_text as _git
from coffee_maker.secrets import leaked_secret


def refuse_leaks(path: Path) -> None:
    """Refuse the staged change when a line it adds holds a secret value of this machine
    (``secrets.leaked_secret``): nothing stays staged, and the error names the files,
    never the value."""
    added = _git(path, "diff", "--cached", "--no-color", "--no-ext-diff", "-U0", "HEAD")
    leaking, current = [], ""
    for line in added.splitlines():
        if line.startswith("+++ "):
            current = line[4:].removeprefix("b/")
        elif line.startswith("+") and current not in leaking and leaked_secret(line[1:]):
            leaking.append(current)
    if leaking:
        _git(path, "reset", "--quiet")
        names = ", ".join(repr(name) for name in leaking[:10])
        raise GitError(
            f"the change holds a secret of this machine (a configured key or token) in "
            f"{names}; nothing was committed or pushed"
        )
