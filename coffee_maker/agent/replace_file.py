"""Replacing a file's content in one step, so a failed write never leaves half a file.

The workspace writes what the model asked for through :func:`replace_at`: the bytes go
to a temporary file in the same directory, which is then renamed over the target. A
write that fails half-way (a full disk, a file size limit) removes the temporary file
and leaves the old content, instead of a truncated file the harness would commit.
Everything is done relative to a directory fd the caller opened without following
links, so the workspace's jail holds here too.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat


class WriteFailed(OSError):
    """Writing the new content failed; the old file (if any) is unchanged."""


def replace_at(dir_fd: int, name: str, data: bytes) -> None:
    """Write ``data`` to a new file in ``dir_fd`` and rename it over ``name``.

    An existing ``name`` keeps its permission bits. One that is a symbolic link (ELOOP),
    a directory (IsADirectoryError) or not a regular file (EINVAL) raises, as an open
    with ``O_NOFOLLOW`` would; a failure while writing raises :class:`WriteFailed`.
    """
    try:
        old = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        old = None
    if old is not None and stat.S_ISLNK(old.st_mode):
        raise OSError(errno.ELOOP, "is a symbolic link")
    if old is not None and stat.S_ISDIR(old.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory")
    if old is not None and not stat.S_ISREG(old.st_mode):
        raise OSError(errno.EINVAL, "not a regular file")
    temp = f".{name[:100]}.{secrets.token_hex(6)}.coffee-maker-tmp"  # within NAME_MAX
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    try:
        try:
            if old is not None:
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)  # a full disk may only say so here
        finally:
            os.close(fd)
        os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        raise WriteFailed(exc.errno, exc.strerror) from None
