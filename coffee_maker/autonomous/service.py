"""Running code-developer under systemd: the unit file, its installation, and sd_notify.

The unit is ``Type=notify`` with a watchdog: systemd counts the daemon started only when
it says ``READY=1``, and restarts it if it stops sending ``WATCHDOG=1`` (a hung daemon is
worse than a crashed one, because nobody notices). Keys stay out of the unit, in an
``EnvironmentFile`` created mode 0600 and never overwritten. sd_notify is a datagram on
a unix socket, so it is done here with the standard library rather than a dependency.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import socket
import stat
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.atomic_files import atomic_write
from coffee_maker.errors import UserError
from coffee_maker.logging import get_logger

log = get_logger(__name__)

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_ENV_FILE = Path("/etc/coffee-maker/env")
#: Exit code 2 is a configuration error: restarting cannot fix it, so systemd should not try.
CONFIG_ERROR_EXIT = 2
ENV_FILE_TEMPLATE = """\
# Environment for code-developer, read by systemd (EnvironmentFile=). Keep it mode 0600.
# One KEY=value per line, without "export". Uncomment the keys of the providers you use.
# ANTHROPIC_API_KEY=
# OPENAI_API_KEY=
# GOOGLE_API_KEY=
# GITHUB_TOKEN=
# Services get a minimal PATH; extend it if git or the claude CLI live elsewhere:
# PATH=/usr/local/bin:/usr/bin:/bin
"""


class ServiceError(UserError):
    """The service could not be installed; the message names the path and what to do."""


@dataclass
class InstallResult:
    unit_path: Path
    env_file: Path
    unit_text: str
    commands: list[str]
    warnings: list[str] = field(default_factory=list)


# -- the unit file ----------------------------------------------------------------------------


def render_unit(
    exec_path: str | os.PathLike[str] | Sequence[str],
    repo: str | os.PathLike[str],
    user: bool,
    env_file: str | os.PathLike[str],
    extra_args: Sequence[str] = (),
    run_as: str | None = None,
) -> str:
    """The unit text. ``exec_path`` is the program, or a command prefix (python -m ...).

    ``run_as`` is the ``User=`` of a system unit (default: the user installing it).
    """
    command = [str(exec_path)] if isinstance(exec_path, str | os.PathLike) else list(exec_path)
    argv = [*command, "--repo", str(repo), *extra_args]
    for value in (*argv, str(env_file)):
        if "\n" in value or "\r" in value:
            raise ServiceError(f"a path or argument contains a line break: {value!r}")
    service = [
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(_quote_exec_word(word) for word in argv),
        f"WorkingDirectory={_escape_specifiers(str(repo))}",
        f"EnvironmentFile=-{_escape_specifiers(str(env_file))}",
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=on-failure",
        "RestartSec=30",
        f"RestartPreventExitStatus={CONFIG_ERROR_EXIT}",
        "WatchdogSec=120",
        "TimeoutStopSec=60",
        "KillMode=mixed",
    ]
    if not user:
        service.append(f"User={run_as or _invoking_user()}")
    sections = {
        "Unit": [
            f"Description=coffee-maker code-developer for {_escape_specifiers(str(repo))}",
            "After=network-online.target",
            "Wants=network-online.target",
            "StartLimitIntervalSec=600",
            "StartLimitBurst=5",
        ],
        "Service": service,
        "Install": [f"WantedBy={'default.target' if user else 'multi-user.target'}"],
    }
    return (
        "\n".join(
            f"[{name}]\n" + "\n".join(lines) + "\n" for name, lines in sections.items()
        ).rstrip("\n")
        + "\n"
    )


def _escape_specifiers(value: str) -> str:
    """systemd expands ``%h``, ``%n``... in most settings; ``%%`` is a literal percent."""
    return value.replace("%", "%%")


def _quote_exec_word(word: str) -> str:
    """One ExecStart word, per systemd.service(5): quotes, C escapes, ``$$`` and ``%%``."""
    word = _escape_specifiers(word).replace("$", "$$")
    if word == ";":
        return "\\;"
    if word and not re.search(r"[\s\"'\\]", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_name(repo: str | os.PathLike[str]) -> str:
    """``code-developer-<dir>.service``, with characters systemd does not allow replaced."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(repo).name).strip("-.") or "repo"
    return f"code-developer-{stem}.service"


# -- installation -----------------------------------------------------------------------------


def find_executable() -> list[str]:
    """How systemd should start us: the program being run, the one on PATH, or python -m."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if argv0 and argv0.name == "code-developer" and os.access(argv0, os.X_OK):
        return [str(argv0.resolve())]
    found = shutil.which("code-developer")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "coffee_maker.cli.code_developer"]


def install_service(
    repo: str | os.PathLike[str],
    user: bool = True,
    print_only: bool = False,
    exec_path: str | os.PathLike[str] | Sequence[str] | None = None,
    unit_dir: str | os.PathLike[str] | None = None,
    env_file: str | os.PathLike[str] | None = None,
) -> InstallResult:
    """Write the unit (and an env file if there is none); return what to run next.

    With ``print_only`` nothing is written: the caller shows the unit and the commands.
    """
    repo_path = Path(repo).expanduser().resolve()
    if not repo_path.is_dir():
        raise ServiceError(f"--repo {repo_path}: not a directory")
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    if unit_dir is None:
        unit_dir = config_home / "systemd" / "user" if user else SYSTEM_UNIT_DIR
    if env_file is None:
        env_file = config_home / "coffee-maker" / "env" if user else SYSTEM_ENV_FILE
    name = unit_name(repo_path)
    unit_text = render_unit(exec_path or find_executable(), repo_path, user, env_file)
    result = InstallResult(
        unit_path=Path(unit_dir) / name,
        env_file=Path(env_file),
        unit_text=unit_text,
        commands=_next_commands(name, user),
    )
    if not print_only:
        try:
            _write_unit(result)
            _ensure_env_file(result)
        except PermissionError as exc:
            hint = "run it as root" if not user else "check the directory's owner"
            raise ServiceError(
                f"cannot write {exc.filename or result.unit_path}: permission denied; "
                f"{hint}, or use --print"
            ) from exc
    for warning in result.warnings:
        log.warning(warning)
    return result


def _next_commands(name: str, user: bool) -> list[str]:
    if user:
        return [
            "systemctl --user daemon-reload",
            f"systemctl --user enable --now {name}",
            f"loginctl enable-linger {_invoking_user()}",
            f"journalctl --user -u {name} -f",
        ]
    return [
        "systemctl daemon-reload",
        f"systemctl enable --now {name}",
        f"journalctl -u {name} -f",
    ]


def _invoking_user() -> str:
    """The person behind ``sudo``, not root: the daemon should run as them."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _write_unit(result: InstallResult) -> None:
    path = result.unit_path
    if path.exists() and path.read_text(encoding="utf-8") != result.unit_text:
        result.warnings.append(f"replaced the existing {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, result.unit_text.encode("utf-8"), mode=0o644)


def _ensure_env_file(result: InstallResult) -> None:
    """Create the env file 0600 with placeholders; an existing one is the user's: keep it."""
    path = result.env_file
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            result.warnings.append(
                f"{path} is readable by others (mode {mode:04o}); run: chmod 600 {path}"
            )
        return
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(ENV_FILE_TEMPLATE)


# -- sd_notify --------------------------------------------------------------------------------


class SystemdNotifier:
    """Tells systemd how the daemon is doing; a silent no-op outside systemd. Never raises."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.address = _notify_address(env.get("NOTIFY_SOCKET", ""))
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: Any) -> bool:
        """Send ``KEY=value`` lines as one datagram (``notify(READY=1, STATUS="...")``)."""
        if self.address is None or not fields:
            return False
        message = "\n".join(f"{k.upper()}={' '.join(str(v).split())}" for k, v in fields.items())
        try:
            with self._lock:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.sendto(message.encode("utf-8"), self.address)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("sd_notify failed; systemd will not hear from us", error=str(exc))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify(READY=1, **({"STATUS": status} if status else {}))

    def status(self, text: str) -> bool:
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG=1)

    def stopping(self, status: str | None = None) -> bool:
        return self.notify(STOPPING=1, **({"STATUS": status} if status else {}))

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None


def _notify_address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]  # the abstract namespace
    if value.startswith("/"):
        return value
    if value:
        log.warning("NOTIFY_SOCKET is not a unix socket path; sd_notify disabled", value=value)
    return None


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings: half of ``WATCHDOG_USEC``, if the watchdog is meant for us."""
    env = os.environ if environ is None else environ
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class WatchdogThread(threading.Thread):
    """Pings the watchdog every ``interval`` seconds while ``is_healthy()`` says so.

    Without ``is_healthy`` it only proves the process is alive; give it a check of the
    main loop's progress to have systemd restart a daemon that is alive but stuck.
    """

    def __init__(
        self,
        notifier: SystemdNotifier,
        interval: float,
        is_healthy: Callable[[], bool] | None = None,
    ) -> None:
        super().__init__(name="systemd-watchdog", daemon=True)
        self.notifier = notifier
        self.interval = interval
        self.is_healthy = is_healthy
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            if self.is_healthy is None or self.is_healthy():
                self.notifier.watchdog()
            self._stopped.wait(self.interval)

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout)


def start_watchdog(
    notifier: SystemdNotifier,
    environ: Mapping[str, str] | None = None,
    is_healthy: Callable[[], bool] | None = None,
) -> WatchdogThread | None:
    """Start pinging if systemd asked for a watchdog; ``None`` when it did not."""
    interval = watchdog_interval(environ)
    if interval is None or not notifier.enabled:
        return None
    thread = WatchdogThread(notifier, interval, is_healthy)
    thread.start()
    return thread
