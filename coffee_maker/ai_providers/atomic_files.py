"""The one way this project replaces a file and the one way it locks one.

Replacing: readers and crashes see the old contents or the new, never half — write a
temporary file in the same directory, fsync it, rename it over the target, fsync the
directory. Locking: an advisory ``flock`` on a separate lock file, released when the block
ends or the process dies (the kernel drops it), so a crash never leaves a stale lock.

They live in the provider layer, the lowest one, so that every layer above (the ledger,
quotas and cooldowns, the daemon's state, the CLI's config and env files, service units)
can use them: layers import downwards only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: How often a lock with a timeout is retried while another process holds it.
_POLL_SECONDS = 0.05


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably, with permission bits ``mode``.

    The default 0600 suits files that may hold secrets; pass 0o644 for ones others read.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def rename_aside(path: Path, aside: Path) -> None:
    """Move ``path`` to ``aside`` in one step (a corrupt file kept for the user to inspect)."""
    os.replace(path, aside)


@contextlib.contextmanager
def locked(
    lock_path: Path, *, exclusive: bool = True, timeout: float | None = None
) -> Iterator[None]:
    """Hold an advisory lock on ``lock_path`` (created 0600 if missing) for the block.

    ``exclusive=False`` takes a shared lock (many readers, no writer). ``timeout`` None
    waits as long as it takes; otherwise :class:`TimeoutError` after that many seconds
    (0: only if the lock is free now).
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        kind = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if timeout is None:
            fcntl.flock(fd, kind)
        else:
            deadline = time.monotonic() + max(0.0, timeout)
            while True:
                try:
                    fcntl.flock(fd, kind | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise TimeoutError(f"{lock_path} is held by another process") from None
                    time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
