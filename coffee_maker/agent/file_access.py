"""Opening files under a root without following a symbolic link, and what a refusal says.

A path is opened from the root one component at a time with ``O_NOFOLLOW``, so a link
swapped in between a check and the open is refused too. Every refusal or failure is a
:class:`ToolError`, whose message goes back to the model as a tool result.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


class ToolError(Exception):
    """A refused or failed tool action; ``str()`` is the message the model reads."""


def open_under(root: Path, real: Path, flags: int, *, make_parents: bool = False) -> int:
    """An fd for ``real`` opened from ``root`` one component at a time, no symlink followed."""
    with parent_under(root, real, make_parents=make_parents) as (fd, name, shown):
        try:
            # O_NONBLOCK: a FIFO planted in the tree must not hang the harness on open.
            return os.open(name, flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644, dir_fd=fd)
        except OSError as exc:
            raise tool_error(exc, shown) from None


@contextlib.contextmanager
def parent_under(root: Path, real: Path, *, make_parents: bool) -> Iterator[tuple[int, str, str]]:
    """(fd of the parent directory, file name, path shown) for ``real``, opened from
    ``root`` one component at a time with ``O_NOFOLLOW``; the fd is closed after."""
    parts = real.relative_to(root).parts
    if not parts:
        raise ToolError(". is the workspace directory, not a file")
    shown = "/".join(parts)
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            if make_parents and not _exists_at(part, fd):
                os.mkdir(part, 0o755, dir_fd=fd)
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
    except OSError as exc:
        os.close(fd)
        raise tool_error(exc, shown) from None
    try:
        yield fd, parts[-1], shown
    finally:
        os.close(fd)


def tool_error(exc: OSError, shown: str) -> ToolError:
    """The model's reading of a failed open or write of ``shown``."""
    if isinstance(exc, FileNotFoundError):
        return ToolError(f"{shown}: no such file")
    if isinstance(exc, IsADirectoryError):
        return ToolError(f"{shown}: is a directory")
    if isinstance(exc, NotADirectoryError):
        return ToolError(f"{shown}: a parent of this path is not a directory")
    if exc.errno == errno.ELOOP:  # a symbolic link appeared after the check
        return ToolError(f"{shown}: is a symbolic link; refused")
    return ToolError(f"{shown}: {exc.strerror}")


def _exists_at(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True
