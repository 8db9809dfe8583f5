"""Walking a workspace's tree as git would see it: ``.gitignore`` files respected at every
level, build and test droppings left out, and nothing followed out of the tree.

The caller says what else to hide (``.git``, the files the config calls sensitive);
:class:`~coffee_maker.agent.workspace.Workspace` lists, searches and snapshots through
:func:`walk`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pathspec

#: Build and test droppings that are never "a file the model changed".
ALWAYS_IGNORED = pathspec.GitIgnoreSpec.from_lines(
    ["__pycache__/", "*.py[co]", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/"]
)

Specs = list[tuple[Path, pathspec.PathSpec]]


def walk(
    root: Path, directory: Path, hidden: Callable[[Sequence[str]], bool]
) -> Iterator[tuple[str, bool]]:
    """(path relative to ``root``, is a directory) under ``directory``, depth first and
    sorted, less what ``.gitignore`` files ignore and what ``hidden`` (given the
    relative parts) hides; symbolic links are listed, never entered."""
    ancestors = [] if directory == root else [root, *_between(root, directory)]
    specs = [(base, spec) for base in ancestors if (spec := _gitignore(base)) is not None]
    yield from _walk_dir(root, directory, specs, hidden)


def _walk_dir(
    root: Path, directory: Path, specs: Specs, hidden: Callable[[Sequence[str]], bool]
) -> Iterator[tuple[str, bool]]:
    if (spec := _gitignore(directory)) is not None:
        specs = [*specs, (directory, spec)]
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        is_dir = entry.is_dir(follow_symlinks=False)
        full = Path(entry.path)
        rel_parts = full.relative_to(root).parts
        if hidden(rel_parts) or _ignored(full, is_dir, specs):
            continue
        yield "/".join(rel_parts), is_dir
        if is_dir:
            yield from _walk_dir(root, full, specs, hidden)


def _between(root: Path, directory: Path) -> list[Path]:
    """The directories strictly between ``root`` and ``directory``, outermost first."""
    return [d for d in reversed(directory.parents) if root in d.parents]


def _gitignore(directory: Path) -> pathspec.PathSpec | None:
    path = directory / ".gitignore"
    if path.is_symlink() or not path.is_file():
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(path.read_text(errors="replace").splitlines())
    except (OSError, ValueError):
        return None


def _ignored(full: Path, is_dir: bool, specs: Specs) -> bool:
    for base, spec in [(None, ALWAYS_IGNORED), *specs]:
        rel = full.name if base is None else full.relative_to(base).as_posix()
        if spec.match_file(rel + "/" if is_dir else rel):
            return True
    return False
