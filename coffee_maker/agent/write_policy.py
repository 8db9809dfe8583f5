"""Which paths the model may not change, whatever the task says.

A CI workflow pushed on a branch runs with the repository's secrets; a git hook or a
``.gitattributes`` filter runs on every clone; the roadmap's status is the harness's to
mark. So these paths are refused by the file tools, and the daemon drops any change to
them (made by an agentic CLI writing files directly) before it commits. Patterns use
gitignore syntax (``.github/workflows/**``, ``Jenkinsfile``) and match case-insensitively,
because on a case-insensitive file system ``.GitHub/Workflows/x.yml`` is the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pathspec


class WritePolicy:
    """The protected paths of a workspace; an empty pattern list protects nothing."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns = [p for p in patterns if p and p.strip()]
        self._spec = pathspec.GitIgnoreSpec.from_lines(p.lower() for p in self.patterns)

    def protects(self, rel_path: str) -> bool:
        """Whether ``rel_path`` (relative to the workspace root, ``/``-separated) is protected."""
        if not self.patterns:
            return False
        path = rel_path.replace("\\", "/").strip("/").lower()
        return bool(path) and self._spec.match_file(path)

    def protected(self, rel_paths: Iterable[str]) -> list[str]:
        """The protected ones among ``rel_paths``, sorted."""
        return sorted({p for p in rel_paths if self.protects(p)})

    def refusal(self, rel_path: str, shown: str | None = None) -> str | None:
        """The message a tool returns to the model for a protected path, else None."""
        if not self.protects(rel_path):
            return None
        return (
            f"{shown or rel_path}: a protected path (CI, git hooks and settings, or the "
            "roadmap: agent.protected_paths); it may not be changed by this task. Leave it "
            "as it is and mention the change it needs in your summary instead."
        )
