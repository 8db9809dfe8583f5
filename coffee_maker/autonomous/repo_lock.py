"""One daemon per repository: the lock file in the state directory, and its holder."""

from __future__ import annotations

import fcntl
import os

from coffee_maker.autonomous.state import LOCK_FILE, state_dir


class AlreadyRunningError(Exception):
    """Another daemon holds this repository's lock: not the user's mistake but a busy
    repository, so not a :class:`UserError` (the command line exits 75: try later)."""


class RepoLock:
    """One daemon per repository: an exclusive ``flock`` on ``daemon.lock``.

    The kernel drops the lock when the holder dies, however it dies, so a crash never
    leaves a stale lock behind. The file holds the pid, for the message a second daemon
    shows. The descriptor is not inherited, so children (tests, CLIs) never hold the lock.
    """

    def __init__(self, repo: str | os.PathLike[str]) -> None:
        self.repo = os.fspath(repo)
        self.path = state_dir(repo) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RepoLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "not yet written"
            os.close(fd)
            raise AlreadyRunningError(
                f"another daemon is already running for {self.repo} (pid {pid}; lock {self.path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def holder(repo: str | os.PathLike[str]) -> int | None:
        """The pid of the daemon running for ``repo`` (0 if not yet written), else None."""
        path = state_dir(repo) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else 0
        finally:
            os.close(fd)  # closing also drops the lock if this probe got it
        return None

    def __enter__(self) -> RepoLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
