"""What the agent-CLI providers share: finding the program, its environment, and running it.

An agent CLI (Codex, Gemini CLI) gets the whole task and works in the worktree by
itself, printing one JSON event a line. :func:`run_streaming` runs it in a session of its
own and reads those events as they come, so it can be stopped from outside for three
reasons, whichever comes first:

- ``timeout``: the wall time of the run is over;
- ``stall``: no output at all for ``stall_timeout`` seconds (a stream that hangs, a known
  failure of these CLIs);
- a reason ``on_event`` returns (the provider's budget cap, read from the events);
- a stop of the daemon (Ctrl-C, SIGTERM): ``cancel_calls`` reaches it through
  :func:`~coffee_maker.ai_providers.providers._bounded.on_cancel`, and the call raises
  ``CallCancelled`` once the tree is killed.

Stopping kills the whole process tree: every descendant, found by parent pid before any is
killed (a sandbox helper may start a session of its own, out of the process group), is
frozen, then killed, then the group; nothing keeps working in the worktree afterwards.

The child gets an environment built from an allowlist (:func:`cli_environ`): the
system's basics (PATH, HOME, locale, proxies and CA bundles), never another vendor's key
or the GitHub token, plus what the provider adds for its own CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.ai_providers.base import add_usage, make_usage
from coffee_maker.ai_providers.providers._bounded import CallCancelled, on_cancel
from coffee_maker.ai_providers.tokens import count_tokens
from coffee_maker.secrets import is_secret_name

if TYPE_CHECKING:
    from coffee_maker.ai_providers.base import BaseAIProvider

#: Variables an agent CLI may inherit: the system's basics, nothing that authenticates.
INHERITED = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "TERM",
        "TZ",
        "TMPDIR",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "NODE_EXTRA_CA_CERTS",
    }
)
INHERITED_PREFIXES = ("LC_", "XDG_")
STDERR_KEEP = 64 * 1024  # bytes of stderr kept (its tail)
LINE_LIMIT = 8 * 1024 * 1024  # a longer event line is dropped, not buffered
KILL_GRACE = 5.0  # seconds to reap the process once killed
CANCEL_POLL = 0.25  # seconds between two looks at a stop request


def cli_environ(
    extra: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The allowlisted part of ``environ`` (default: ours) plus ``extra``."""
    env = os.environ if environ is None else environ
    kept = {
        k: v
        for k, v in env.items()
        if (k in INHERITED or k.startswith(INHERITED_PREFIXES)) and not is_secret_name(k)
    }
    return {**kept, **extra}


def find_binary(cli_path: str) -> str | None:
    """``cli_path`` if it is an executable path (made absolute: the CLI runs elsewhere),
    else the program of that name on PATH."""
    if os.sep in cli_path or (os.altsep and os.altsep in cli_path):
        path = Path(cli_path).expanduser().absolute()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(cli_path)


def under_temp_dir(path: Path) -> bool:
    """``path`` lies in the system's temporary directory (which gets cleaned)."""
    temp = Path(tempfile.gettempdir()).resolve()
    return path.resolve().is_relative_to(temp)


@dataclass
class RunOutcome:
    """How a streamed run ended: its exit code, or why it was stopped (then killed)."""

    returncode: int | None
    stopped: str | None = None  # "timeout" | "stall" | the reason on_event gave
    stderr: str = ""
    other_output: list[str] = field(default_factory=list)  # stdout lines that were not JSON
    seconds: float = 0.0


def run_streaming(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdin_text: str,
    timeout: float,
    stall_timeout: float,
    on_event: Callable[[dict[str, Any]], str | None],
    on_stderr: Callable[[str], str | None] | None = None,
) -> RunOutcome:
    """Run ``command``, feed it ``stdin_text``, hand each JSON line to ``on_event`` (and
    each stderr line to ``on_stderr``); either may return a reason to stop the run.

    Raises OSError when the program cannot be started. However the call ends (a stop, an
    interruption, an exception in ``on_event``), no process of the run is left behind.
    """
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    feeder = threading.Thread(target=_feed, args=(process, stdin_text), daemon=True)
    feeder.start()
    reader = _Reader(process, on_event, on_stderr)
    outcome = RunOutcome(returncode=None)
    try:
        with on_cancel(reader.cancel):
            outcome.stopped = reader.pump(started + timeout, stall_timeout)
    finally:
        if outcome.stopped is not None or process.poll() is None:
            kill_tree(process.pid)
        else:  # it exited; what it left running in its session (output sent nowhere) goes too
            kill_group(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=KILL_GRACE)
        reader.close()
    if outcome.stopped == "cancelled":  # a stop (Ctrl-C, SIGTERM): the run ends, interrupted
        raise CallCancelled(reader.cancelled or "stop requested")
    outcome.returncode = None if outcome.stopped else process.returncode
    outcome.stderr = reader.stderr.decode("utf-8", "replace")
    outcome.other_output = reader.other_output
    outcome.seconds = time.monotonic() - started
    return outcome


def _feed(process: subprocess.Popen[bytes], text: str) -> None:
    """Write the prompt to stdin and close it (in a thread: it may exceed the pipe buffer)."""
    stdin = process.stdin
    assert stdin is not None
    with contextlib.suppress(OSError):  # the program exited without reading it all
        stdin.write(text.encode("utf-8"))
    with contextlib.suppress(OSError):
        stdin.close()


class _Reader:
    """Reads stdout line by line and stderr's tail, without ever blocking past a limit."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        on_event: Callable[[dict[str, Any]], str | None],
        on_stderr: Callable[[str], str | None] | None,
    ) -> None:
        self.process = process
        self.on_event = on_event
        self.on_stderr = on_stderr
        self.stderr = b""
        self._stderr_line = b""
        self.other_output: list[str] = []
        self._line = b""
        self._skipping = False  # inside a line over LINE_LIMIT
        self.cancelled: str | None = None  # why a stop was asked for
        self._selector = selectors.DefaultSelector()
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            os.set_blocking(stream.fileno(), False)
            self._selector.register(stream, selectors.EVENT_READ)

    def cancel(self, reason: str) -> None:
        """Called from a signal handler: only a flag, read by :meth:`pump` within a poll."""
        self.cancelled = reason

    def pump(self, deadline: float, stall_timeout: float) -> str | None:
        """Read until both pipes close; a stop reason if the run must be stopped first."""
        last_output = time.monotonic()
        while self._selector.get_map():
            if self.cancelled is not None:
                return "cancelled"
            now = time.monotonic()
            if now >= deadline:
                return "timeout"
            if now - last_output >= stall_timeout:
                return "stall"
            wait = min(deadline - now, last_output + stall_timeout - now, CANCEL_POLL)
            for key, _ in self._selector.select(timeout=max(0.01, wait)):
                data = os.read(key.fd, 65536)
                if not data:
                    self._selector.unregister(key.fileobj)
                    continue
                last_output = time.monotonic()
                if key.fileobj is self.process.stderr:
                    reason = self._stderr(data)
                else:
                    reason = self._lines(data)
                if reason is not None:
                    return reason
        return self._line_end()

    def _lines(self, data: bytes) -> str | None:
        self._line += data
        *lines, self._line = self._line.split(b"\n")
        for line in lines:
            if self._skipping:
                self._skipping = False
                continue
            reason = self._one(line)
            if reason is not None:
                return reason
        if len(self._line) > LINE_LIMIT:
            self._line, self._skipping = b"", True
            self.other_output.append(f"(an output line over {LINE_LIMIT} bytes was dropped)")
        return None

    def _stderr(self, data: bytes) -> str | None:
        self.stderr = (self.stderr + data)[-STDERR_KEEP:]
        if self.on_stderr is None:
            return None
        *lines, rest = (self._stderr_line + data).split(b"\n")
        self._stderr_line = rest[-LINE_LIMIT:]
        for line in lines:
            reason = self.on_stderr(line.decode("utf-8", "replace"))
            if reason is not None:
                return reason
        return None

    def _line_end(self) -> str | None:
        line, self._line = self._line, b""
        return None if self._skipping or not line.strip() else self._one(line)

    def _one(self, line: bytes) -> str | None:
        text = line.decode("utf-8", "replace").strip()
        if not text:
            return None
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            self.other_output = [*self.other_output[-49:], text[:2000]]
            return None
        return self.on_event(event)

    def close(self) -> None:
        self._selector.close()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


# -- what a run may have spent so far ----------------------------------------------------------


class SpendEstimate:
    """The usage of a run whose exact figures only come at its end, grown one tool round at
    a time: every round re-sends the conversation, its repeated prefix read from the cache.

    ``base_tokens`` is what the CLI sends with every request besides the task (its own
    instructions and tool definitions).
    """

    def __init__(self, provider: BaseAIProvider, base_tokens: int, prompt: str) -> None:
        self.provider = provider
        self.context = base_tokens + count_tokens(prompt, provider.model)
        self.usage = make_usage()
        self._sent = 0
        self._request(0)

    def round(self, new_text: str) -> None:
        """A tool round: the model wrote ``new_text`` (a call, its result); one more request."""
        tokens = count_tokens(new_text, self.provider.model)
        self.context += tokens
        self._request(tokens)

    def _request(self, output: int) -> None:
        cached, self._sent = self._sent, self.context
        self.usage = add_usage(
            self.usage, make_usage(self.context - cached, max(output, 50), cached)
        )

    def over(self, usage: dict[str, int] | None = None) -> bool:
        """The spend (``usage``, else the estimate) is past the provider's ``max_budget_usd``."""
        cap = self.provider.settings.max_budget_usd
        if not cap or self.provider.is_free:
            return False
        return self.provider.cost_of(usage if usage is not None else self.usage) > cap


# -- stopping a run for good -----------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (empty where there is no /proc)."""
    tree: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue  # exited meanwhile
            fields = stat.rsplit(b")", 1)[-1].split()
            if len(fields) > 1:
                tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, whatever its session or process group."""
    tree = _children()
    found: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        if child not in found:
            found.append(child)
            todo.extend(tree.get(child, []))
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def kill_group(pid: int) -> None:
    """Kill what is left in the process group of ``pid`` (a CLI started in a session of its
    own, which exited): a background tool process must not keep working in the worktree."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def kill_tree(pid: int) -> None:
    """Kill ``pid``, its process group and every descendant, leaving no orphan.

    The tree is frozen first (SIGSTOP), so that no process forks or re-parents while it is
    being walked, then everything is killed, and this returns once they are gone (or after
    ``KILL_GRACE`` seconds).
    """
    frozen: list[int] = []
    for _ in range(5):  # until no new process appears
        found = [p for p in [pid, *descendants(pid)] if p not in frozen]
        if not found:
            break
        for victim in found:
            _signal(victim, signal.SIGSTOP)
        frozen += found
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for victim in [pid, *frozen]:
        _signal(victim, signal.SIGKILL)
    deadline = time.monotonic() + KILL_GRACE
    while any(_alive(v) for v in frozen if v != pid) and time.monotonic() < deadline:
        time.sleep(0.02)
