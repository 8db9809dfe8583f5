"""The systemd unit (checked by the real systemd-analyze), its installation, and sd_notify."""

from __future__ import annotations

import getpass
import logging
import os
import socket
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from coffee_maker.autonomous.service import (
    ServiceError,
    SystemdNotifier,
    find_executable,
    install_service,
    render_unit,
    start_watchdog,
    unit_name,
    watchdog_interval,
)

VENV_CODE_DEVELOPER = Path(sys.executable).parent / "code-developer"


def make_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def verify(unit_path: Path) -> list[str]:
    """Lines of `systemd-analyze verify` output about this unit (it exits 0 on many errors)."""
    run = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
        timeout=30,
    )
    output = (run.stdout + run.stderr).splitlines()
    return [line for line in output if unit_path.name in line]


def write_unit(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory / name


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / 'my repo 100% "quoted" $HOME'
    path.mkdir()
    return path


def test_user_unit_passes_systemd_analyze_verify(tmp_path: Path, repo: Path) -> None:
    text = render_unit(VENV_CODE_DEVELOPER, repo, True, tmp_path / "env file", ["--verbose"])
    unit = write_unit(tmp_path / "units", unit_name(repo), text)
    assert verify(unit) == []


def test_system_unit_with_spaces_in_the_program_path_passes_verify(
    tmp_path: Path, repo: Path
) -> None:
    program = make_executable(tmp_path / "my bin" / "code-developer")
    text = render_unit(program, repo, False, "/etc/coffee-maker/env", run_as=getpass.getuser())
    unit = write_unit(tmp_path / "units", unit_name(repo), text)
    assert verify(unit) == []


def test_verify_does_notice_a_broken_unit(tmp_path: Path, repo: Path) -> None:
    """Guards the check above: a missing program and bad quoting are both reported."""
    text = render_unit(tmp_path / "missing" / "code-developer", repo, True, tmp_path / "env")
    assert any(
        "is not executable" in line for line in verify(write_unit(tmp_path, "a.service", text))
    )
    broken = render_unit(VENV_CODE_DEVELOPER, repo, True, tmp_path / "env")
    broken = broken.replace("--repo", '--repo "unbalanced')
    assert any("quoting" in line for line in verify(write_unit(tmp_path, "b.service", broken)))


def test_unit_settings(tmp_path: Path) -> None:
    program = tmp_path / "bin dir" / "code-developer"
    repo = tmp_path / "work" / "proj"
    user_unit = render_unit(program, repo, True, "/home/me/.config/coffee-maker/env")
    lines = user_unit.splitlines()
    for expected in (
        "[Unit]",
        "After=network-online.target",
        "Wants=network-online.target",
        "StartLimitIntervalSec=600",
        "StartLimitBurst=5",
        "Type=notify",
        "NotifyAccess=main",
        f'ExecStart="{program}" --repo {repo}',
        f"WorkingDirectory={repo}",
        "EnvironmentFile=-/home/me/.config/coffee-maker/env",
        "Restart=on-failure",
        "RestartSec=30",
        "RestartPreventExitStatus=2",
        "WatchdogSec=120",
        "TimeoutStopSec=60",
        "KillMode=mixed",
        "Environment=PYTHONUNBUFFERED=1",
        "WantedBy=default.target",
    ):
        assert expected in lines
    assert not any(line.startswith("User=") for line in lines)
    system_unit = render_unit(program, repo, False, "/etc/coffee-maker/env", run_as="alice")
    assert "User=alice" in system_unit and "WantedBy=multi-user.target" in system_unit


def test_exec_start_escapes_what_systemd_would_expand() -> None:
    unit = render_unit("/opt/cd", '/srv/a "b" 50%', True, "/e", ["--x=$HOME", "back\\slash"])
    [exec_start] = [line for line in unit.splitlines() if line.startswith("ExecStart=")]
    assert exec_start == (
        'ExecStart=/opt/cd --repo "/srv/a \\"b\\" 50%%" --x=$$HOME "back\\\\slash"'
    )
    assert 'Description=coffee-maker code-developer for /srv/a "b" 50%%' in unit


def test_python_module_fallback_becomes_the_command(tmp_path: Path) -> None:
    unit = render_unit(
        [sys.executable, "-m", "coffee_maker.cli.code_developer"], tmp_path, True, "/e"
    )
    assert (
        f"ExecStart={sys.executable} -m coffee_maker.cli.code_developer --repo {tmp_path}" in unit
    )


def test_unit_name_is_sanitised() -> None:
    assert unit_name("/src/My Repo (v2)") == "code-developer-My-Repo-v2.service"
    assert unit_name("/src/coffee_maker.git") == "code-developer-coffee_maker.git.service"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("SUDO_USER", raising=False)
    return home


def test_user_install_writes_the_unit_and_a_private_env_file(
    config_home: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "proj"
    repo.mkdir()
    result = install_service(repo, exec_path=VENV_CODE_DEVELOPER)
    name = "code-developer-proj.service"
    assert result.unit_path == config_home / "systemd" / "user" / name
    assert result.unit_path.read_text() == result.unit_text
    assert stat.S_IMODE(result.unit_path.stat().st_mode) == 0o644
    assert result.env_file == config_home / "coffee-maker" / "env"
    assert stat.S_IMODE(result.env_file.stat().st_mode) == 0o600
    assert "# ANTHROPIC_API_KEY=" in result.env_file.read_text()
    assert f"EnvironmentFile=-{result.env_file}" in result.unit_text
    assert result.commands == [
        "systemctl --user daemon-reload",
        f"systemctl --user enable --now {name}",
        f"loginctl enable-linger {getpass.getuser()}",
        f"journalctl --user -u {name} -f",
    ]
    assert result.warnings == []
    assert verify(result.unit_path) == []


def test_an_existing_env_file_is_kept_and_a_loose_mode_is_reported(
    config_home: Path, tmp_path: Path
) -> None:
    env_file = config_home / "coffee-maker" / "env"
    env_file.parent.mkdir(parents=True)
    env_file.write_text("ANTHROPIC_API_KEY=the-real-key\n")
    env_file.chmod(0o644)
    result = install_service(tmp_path, exec_path=VENV_CODE_DEVELOPER)
    assert env_file.read_text() == "ANTHROPIC_API_KEY=the-real-key\n"
    assert result.warnings == [
        f"{env_file} is readable by others (mode 0644); run: chmod 600 {env_file}"
    ]


def test_print_only_writes_nothing(config_home: Path, tmp_path: Path) -> None:
    result = install_service(tmp_path, print_only=True, exec_path=VENV_CODE_DEVELOPER)
    assert "[Service]" in result.unit_text
    assert not config_home.exists()


def test_system_install_runs_as_the_sudo_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUDO_USER", "alice")
    result = install_service(
        tmp_path,
        user=False,
        exec_path=VENV_CODE_DEVELOPER,
        unit_dir=tmp_path / "etc-systemd",
        env_file=tmp_path / "etc-cm" / "env",
    )
    name = unit_name(tmp_path)
    assert "User=alice" in result.unit_text and "WantedBy=multi-user.target" in result.unit_text
    assert result.commands == [
        "systemctl daemon-reload",
        f"systemctl enable --now {name}",
        f"journalctl -u {name} -f",
    ]
    assert stat.S_IMODE((tmp_path / "etc-cm" / "env").stat().st_mode) == 0o600


def test_repo_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"--repo .*nope: not a directory"):
        install_service(tmp_path / "nope", print_only=True)


def test_find_executable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program = make_executable(tmp_path / "venv" / "bin" / "code-developer")
    monkeypatch.setattr(sys, "argv", [str(program), "install-service"])
    assert find_executable() == [str(program)]

    on_path = make_executable(tmp_path / "path" / "code-developer")
    monkeypatch.setattr(sys, "argv", ["pytest"])
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert find_executable() == [str(on_path)]

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert find_executable() == [sys.executable, "-m", "coffee_maker.cli.code_developer"]


# -- sd_notify --------------------------------------------------------------------------------


@pytest.fixture
def listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """What systemd does: a datagram socket named by NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def test_notifications_reach_the_socket(listener: socket.socket) -> None:
    notifier = SystemdNotifier()
    assert notifier.ready("picking PRIORITY 3")
    assert receive(listener) == "READY=1\nSTATUS=picking PRIORITY 3"
    notifier.status("running tests\nfor PRIORITY 3")
    assert receive(listener) == "STATUS=running tests for PRIORITY 3"
    notifier.watchdog()
    assert receive(listener) == "WATCHDOG=1"
    notifier.stopping()
    assert receive(listener) == "STOPPING=1"
    notifier.close()


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"coffee-maker-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert SystemdNotifier().ready()
        assert receive(sock) == "READY=1"


def test_without_systemd_notify_is_a_silent_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled and notifier.ready() is False


def test_a_send_error_is_logged_once_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    with caplog.at_level(logging.WARNING):
        assert notifier.watchdog() is False
        assert notifier.watchdog() is False
    assert sum("sd_notify failed" in r.getMessage() for r in caplog.records) == 1


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "120000000"}) == 60.0
    assert watchdog_interval({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": str(os.getpid())})
    assert watchdog_interval({"WATCHDOG_USEC": "120000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval({}) is None


def test_watchdog_thread_pings_until_stopped(listener: socket.socket) -> None:
    thread = start_watchdog(SystemdNotifier(), {"WATCHDOG_USEC": "100000"})
    assert thread is not None and thread.interval == 0.05
    assert [receive(listener) for _ in range(3)] == ["WATCHDOG=1"] * 3
    thread.stop()
    assert not thread.is_alive()
    assert start_watchdog(SystemdNotifier(), {}) is None


def test_watchdog_stays_silent_while_the_daemon_is_unhealthy(listener: socket.socket) -> None:
    thread = start_watchdog(SystemdNotifier(), {"WATCHDOG_USEC": "100000"}, lambda: False)
    listener.settimeout(0.3)
    with pytest.raises(TimeoutError):
        listener.recv(4096)
    thread.stop()
