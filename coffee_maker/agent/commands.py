"""Running a command the model asked for (or the test command) without trusting it.

The command gets its own process group, so a timeout or a stop kills everything it
started (a test runner's workers, a forgotten ``sleep &``), not just the shell; inside a
:class:`~coffee_maker.agent.sandbox.Sandbox` its own PID namespace does the same for
processes that left the group (``setsid``): they all die with bwrap, on every ending.
Its environment has every secret removed, and its output is captured within a budget
while it is produced, so a command printing gigabytes cannot exhaust memory: the head and
the tail are kept and the cut is said.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from coffee_maker.secrets import redact_text, scrubbed_environ

if TYPE_CHECKING:
    from coffee_maker.agent.sandbox import Sandbox

#: Seconds between SIGTERM and SIGKILL when a command is stopped.
KILL_GRACE = 2.0
_READ_CHUNK = 65536
#: Seconds between two looks at ``should_stop`` while a command runs.
STOP_POLL = 0.2


@dataclass(frozen=True)
class CommandResult:
    """What a command did. ``output`` is stdout and stderr merged, already truncated.

    ``interrupted``: a stop was requested (SIGTERM to the daemon) and the command was
    killed; its exit code says nothing about the code under test.
    """

    exit_code: int
    output: str
    timed_out: bool
    duration: float
    interrupted: bool = False

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.interrupted


class OutputBudget:
    """Keeps the first and last characters of a stream and counts what falls between."""

    def __init__(self, limit: int) -> None:
        self._head_size = limit // 2
        self._tail_size = limit - self._head_size
        self._head = ""
        self._tail = ""
        self.cut = 0

    def add(self, text: str) -> None:
        if len(self._head) < self._head_size:
            take = self._head_size - len(self._head)
            self._head += text[:take]
            text = text[take:]
        self._tail += text
        if len(self._tail) > self._tail_size:
            over = len(self._tail) - self._tail_size
            self.cut += over
            self._tail = self._tail[over:]

    def text(self) -> str:
        if not self.cut:
            return self._head + self._tail
        return f"{self._head}\n[... {self.cut} characters cut ...]\n{self._tail}"


def truncate_middle(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, head and tail kept, the cut marked."""
    budget = OutputBudget(limit)
    budget.add(text)
    return budget.text()


def scrubbed_env(extra_secret_names: Iterable[str] = ()) -> dict[str, str]:
    """The environment for model-triggered commands: no secret by name, config or shape.

    ``scrubbed_environ`` drops names like ``*_API_KEY``/``*_TOKEN``/``*_SECRET`` and the
    registered ones; on top of that the config's ``secret_env`` names go, and so does any
    variable whose value looks like a key (``sk-...`` under an innocent name).
    """
    names = set(extra_secret_names)
    return {
        name: value
        for name, value in scrubbed_environ().items()
        if name not in names and redact_text(value) == value
    }


def _kill_group(proc: subprocess.Popen[bytes], grace: float = KILL_GRACE) -> None:
    """SIGTERM the whole process group, then SIGKILL whatever is left of it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _drain(fd: int, budget: OutputBudget) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := os.read(fd, _READ_CHUNK):
        budget.add(decoder.decode(chunk))
    budget.add(decoder.decode(b"", final=True))


def run_command(
    command: str | Sequence[str],
    *,
    cwd: str | os.PathLike[str],
    timeout: float,
    output_limit: int,
    env: dict[str, str],
    sandbox: Sandbox | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.monotonic,
) -> CommandResult:
    """Run ``command`` in ``cwd`` (a string through ``/bin/sh -c``, a sequence as argv),
    inside ``sandbox`` when given; never raises for the command's sake.

    ``should_stop`` is polled while it runs: when it says stop, the command is killed as
    on a timeout and the result says ``interrupted``.
    """
    if should_stop():
        return CommandResult(130, "[command not started: a stop was requested]", False, 0.0, True)
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    started = clock()
    try:
        proc, sandbox_init = _start(argv, cwd, env, sandbox)
    except OSError as exc:
        return CommandResult(127, f"could not start the command: {exc}", False, 0.0)
    assert proc.stdout is not None
    budget = OutputBudget(output_limit)
    reader = threading.Thread(target=_drain, args=(proc.stdout.fileno(), budget), daemon=True)
    reader.start()
    ending = None
    try:
        ending = _wait(proc, timeout, should_stop)
    finally:
        # Also on a normal exit: background children still holding the pipe die with the
        # group. On an exception (a second Ctrl-C) nothing is left running either.
        _kill_group(proc, KILL_GRACE if ending in ("timed out", "stopped") else 0.0)
        proc.wait()
        if sandbox_init is not None:
            sandbox_init.wait_gone()
    reader.join(KILL_GRACE)
    if not reader.is_alive():
        proc.stdout.close()
    output = budget.text()
    if ending == "timed out":
        output += f"\n[command timed out after {timeout:g} seconds and was killed]"
    elif ending == "stopped":
        output += "\n[command killed: a stop was requested]"
    return CommandResult(
        proc.returncode,
        redact_text(output),
        ending == "timed out",
        clock() - started,
        interrupted=ending == "stopped",
    )


def _start(
    argv: list[str],
    cwd: str | os.PathLike[str],
    env: dict[str, str],
    sandbox: Sandbox | None,
) -> tuple[subprocess.Popen[bytes], _SandboxInit | None]:
    """The process, and a watch on the sandbox's PID 1 (None without a sandbox)."""
    if sandbox is None:
        return _popen(argv, cwd, env, ()), None
    info_read, info_write = os.pipe()
    try:
        proc = _popen(sandbox.wrap(argv, cwd=cwd, info_fd=info_write), cwd, env, (info_write,))
    except OSError:
        os.close(info_read)
        raise
    finally:
        os.close(info_write)
    return proc, _SandboxInit(info_read)


def _popen(
    argv: list[str], cwd: str | os.PathLike[str], env: dict[str, str], fds: tuple[int, ...]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=fds,
    )


class _SandboxInit:
    """The sandbox's PID 1, to wait for its end.

    bwrap can exit as soon as the command does, a moment before PID 1 has torn the PID
    namespace down; waiting on a pidfd of PID 1 means that when ``run_command`` returns,
    nothing the command started is alive. bwrap reports PID 1 on ``--info-fd`` in more
    than one write: the report is read to its end in the background (closing the pipe
    early would kill bwrap with SIGPIPE).
    """

    def __init__(self, info_fd: int) -> None:
        self.pidfd: int | None = None
        self._reader = threading.Thread(target=self._read, args=(info_fd,), daemon=True)
        self._reader.start()

    def _read(self, info_fd: int) -> None:
        chunks = []
        try:
            while chunk := os.read(info_fd, 65536):
                chunks.append(chunk)
            self.pidfd = os.pidfd_open(int(json.loads(b"".join(chunks))["child-pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            pass  # bwrap failed to start, or PID 1 is already gone
        finally:
            os.close(info_fd)

    def wait_gone(self) -> None:
        """Once bwrap has exited: wait until PID 1 (and so every process inside) is gone."""
        self._reader.join(KILL_GRACE)
        pidfd = self.pidfd
        if pidfd is None:
            return
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            if not poller.poll(KILL_GRACE * 1000):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                poller.poll(KILL_GRACE * 1000)
        except OSError:
            pass
        finally:
            os.close(pidfd)


def _wait(proc: subprocess.Popen[bytes], timeout: float, should_stop: Callable[[], bool]) -> str:
    """``"exited"``, ``"timed out"`` or ``"stopped"``: whichever comes first."""
    deadline = time.monotonic() + timeout
    while True:
        if should_stop():
            return "stopped"
        left = deadline - time.monotonic()
        if left <= 0:
            return "timed out"
        try:
            proc.wait(min(STOP_POLL, left))
            return "exited"
        except subprocess.TimeoutExpired:
            continue
