"""The bubblewrap sandbox, for real: what a command run for the model's code cannot reach.

Each attack is also run without the sandbox where that is harmless, to show the test
would see the harm if the sandbox let it through.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandbox_support import (
    kill_all_with,
    leaked_forms,
    outside_tmp,
    processes_with,
    unique_sleep,
)

from coffee_maker.agent import sandbox as sandbox_module
from coffee_maker.agent.commands import CommandResult, run_command, scrubbed_env
from coffee_maker.agent.sandbox import Sandbox, sandbox_problem, toolchain_dirs
from coffee_maker.agent.settings import AgentSettings
from coffee_maker.autonomous.sandboxing import make_sandbox

SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtestkey\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
ENV_SECRET = "envfile-secret-value-6f1d2c"
LEDGER_LINE = '{"kind": "call", "provider": "openai", "cost": 0.5, "task_id": "ledger-7a1c"}\n'


@dataclass
class User:
    """A user's machine in miniature, outside /tmp: home, state, config, checkout, worktree."""

    home: Path
    state: Path
    config: Path
    checkout: Path
    worktree: Path
    test_env: Path

    def sandbox(self, **settings: object) -> Sandbox:
        made = make_sandbox(
            AgentSettings(sandbox=settings or "bwrap"),
            repo=self.checkout,
            worktree=self.worktree,
            extra_writable=(self.test_env,),
        )
        assert made is not None
        return made

    def run(
        self, command: str, sandbox: Sandbox | None, timeout: float = 30, **kwargs: object
    ) -> CommandResult:
        return run_command(
            command,
            cwd=self.worktree,
            timeout=timeout,
            output_limit=50_000,
            env=scrubbed_env(),
            sandbox=sandbox,
            **kwargs,  # type: ignore[arg-type]
        )

    def hooks(self) -> dict[str, bytes]:
        hooks = self.checkout / ".git" / "hooks"
        return {p.name: p.read_bytes() for p in hooks.iterdir()}


def git(cwd: Path, *args: str) -> None:
    identity = ("-c", "user.name=T", "-c", "user.email=t@example.com")
    subprocess.run(["git", *identity, *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def user(monkeypatch: pytest.MonkeyPatch) -> Iterator[User]:
    with outside_tmp() as base:
        home, state, xdg = base / "home", base / "state", base / "xdg"
        (home / ".ssh").mkdir(parents=True)
        (home / ".ssh" / "id_rsa").write_text(SSH_KEY)
        state.mkdir()
        (state / "ledger.jsonl").write_text(LEDGER_LINE)
        (xdg / "coffee-maker").mkdir(parents=True)
        (xdg / "coffee-maker" / "env").write_text(f"OTHER_KEY={ENV_SECRET}\n")
        checkout = base / "checkout"
        checkout.mkdir()
        git(checkout, "init", "-q", "-b", "main")
        (checkout / "app.py").write_text("print('mine')\n")
        git(checkout, "add", ".")
        git(checkout, "commit", "-q", "-m", "first")
        worktree = state / "worktrees" / "checkout-0" / "task"
        git(checkout, "worktree", "add", "-q", "-b", "task", str(worktree))
        test_env = base / "test-env"
        test_env.mkdir()
        for name, value in (("HOME", home), ("COFFEE_MAKER_HOME", state), ("XDG_CONFIG_HOME", xdg)):
            monkeypatch.setenv(name, str(value))
        yield User(home, state, xdg / "coffee-maker", checkout, worktree, test_env)


def test_the_home_the_ledger_and_the_env_file_cannot_be_read(user: User) -> None:
    command = (
        f"cat {user.home}/.ssh/id_rsa $HOME/.ssh/id_rsa {user.state}/ledger.jsonl "
        f"{user.config}/env {user.checkout}/app.py; ls -a $HOME {user.checkout}"
    )
    secrets = (SSH_KEY.splitlines()[1], ENV_SECRET, "ledger-7a1c", "print('mine')")

    boxed = user.run(command, user.sandbox())
    open_ = user.run(command, None)

    assert [s for s in secrets if s in boxed.output] == [], boxed.output
    assert boxed.output.count("No such file or directory") == 5, boxed.output
    # The paths were right: unsandboxed, each file is read (the key block is redacted).
    assert [s for s in secrets[1:] if s not in open_.output] == [], open_.output
    assert "[REDACTED]" in open_.output


def test_no_capability_inside_can_lift_the_hiding(user: User) -> None:
    """As root, a sandbox with capabilities could unmount the tmpfs over the home."""
    result = user.run(
        f"umount {user.home}; umount -l {user.home}; mount -o remount,rw /; "
        f"cat {user.home}/.ssh/id_rsa; touch /usr/pwned; grep CapEff /proc/self/status",
        user.sandbox(),
    )
    assert SSH_KEY.splitlines()[1] not in result.output
    assert not Path("/usr/pwned").exists()
    assert "CapEff:\t0000000000000000" in result.output


def test_the_daemons_environment_is_invisible(user: User) -> None:
    marker = f"sandbox-test-marker-{os.getpid()}-{time.monotonic_ns()}"
    env = {"PATH": os.environ["PATH"], "COFFEE_MAKER_TEST_MARKER": marker}
    daemon = subprocess.Popen(["sleep", "120"], env=env)  # stands for the daemon
    walk = (
        f'{sys.executable} -c "import os\n'
        "for p in os.listdir('/proc'):\n"
        "    try: data = open('/proc/%s/environ' % p, 'rb').read() if p.isdigit() else b''\n"
        "    except OSError: continue\n"
        "    print(p, b'COFFEE_MAKER_TEST_MARKER' in data)\n"
        "print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\""
    )
    try:
        boxed = user.run(walk, user.sandbox())
        open_ = user.run(walk, None)
    finally:
        daemon.kill()
        daemon.wait()
    assert boxed.exit_code == 0, boxed.output
    assert "True" not in boxed.output and f"{daemon.pid} " not in boxed.output
    assert boxed.output.splitlines()[-1].startswith("pids [1, 2")  # its own namespace
    assert f"{daemon.pid} True" in open_.output  # what the sandbox keeps out


def test_nothing_outside_the_worktree_and_test_env_can_be_written(user: User) -> None:
    hooks, app = user.hooks(), (user.checkout / "app.py").read_bytes()
    ledger = (user.state / "ledger.jsonl").read_bytes()
    attempts = [
        f"echo pwned > {user.checkout}/app.py",
        f"echo pwned > {user.checkout}/new.py",
        f"printf '#!/bin/sh\\necho pwned\\n' > {user.checkout}/.git/hooks/post-checkout",
        f"rm -f {user.checkout}/.git/hooks/*.sample",
        f'echo \'{{"kind": "call", "cost": -1999.98}}\' >> {user.state}/ledger.jsonl',
        f"echo pwned > {user.home}/.bashrc",
        "echo pwned > /usr/pwned",
        "echo ok > inside.txt",
        f"echo ok > {user.test_env}/made-by-tests",
        "git status --porcelain",
    ]

    result = user.run("\n".join(attempts), user.sandbox())

    assert (user.checkout / "app.py").read_bytes() == app
    assert not (user.checkout / "new.py").exists()
    assert user.hooks() == hooks and "post-checkout" not in hooks
    assert (user.state / "ledger.jsonl").read_bytes() == ledger
    assert not (user.home / ".bashrc").exists() and not Path("/usr/pwned").exists()
    assert result.output.count("Read-only file system") >= 4, result.output
    # What the sandbox is for still works: the worktree, its test environment, git.
    assert (user.worktree / "inside.txt").read_text() == "ok\n"
    assert (user.test_env / "made-by-tests").read_text() == "ok\n"
    assert "?? inside.txt" in result.output


class _Server:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


def test_no_network_unless_the_config_allows_it(user: User) -> None:
    server = _Server()
    connect = (
        f'{sys.executable} -c "import socket\n'
        f"socket.create_connection(('127.0.0.1', {server.port}), timeout=5)\n"
        "print('connected')\""
    )
    try:
        boxed = user.run(connect, user.sandbox())
        assert server.accepted == 0 and "connected" not in boxed.output
        assert "Connection refused" in boxed.output
        allowed = user.run(connect, user.sandbox(network=True))
        assert "connected" in allowed.output, allowed.output
        deadline = time.monotonic() + 5
        while server.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.accepted == 1
    finally:
        server.sock.close()


def test_the_host_container_socket_cannot_be_reached(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A socket on a read-only mount still accepts connections: docker's would be root."""
    path = user.home.parent / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    monkeypatch.setattr(sandbox_module, "HOST_SOCKETS", (str(path),))
    connect = (
        f'{sys.executable} -c "import socket\n'
        f"socket.socket(socket.AF_UNIX).connect('{path}')\n"
        "print('connected')\""
    )
    try:
        boxed = user.run(connect, user.sandbox())
        open_ = user.run(connect, None)
    finally:
        server.close()
    assert "connected" not in boxed.output and "Connection refused" in boxed.output
    assert "connected" in open_.output


def test_no_process_outlives_the_command(user: User) -> None:
    marker = unique_sleep()
    try:
        result = user.run(
            f"setsid sleep {marker} > /dev/null 2>&1 &\nsleep 0.3\n"
            f"grep -l {marker} /proc/[0-9]*/cmdline >/dev/null && echo started",
            user.sandbox(),
        )
        assert result.exit_code == 0 and "started" in result.output, result.output
        assert processes_with(marker) == []
    finally:
        kill_all_with(marker)


@pytest.mark.parametrize("how", ["should_stop", "timeout"])
def test_a_stop_or_a_timeout_kills_the_whole_sandbox_quickly(user: User, how: str) -> None:
    marker = unique_sleep()
    started = time.monotonic()
    stop_at = started + 0.5
    try:
        if how == "should_stop":
            result = user.run(
                f"sleep {marker}", user.sandbox(), should_stop=lambda: time.monotonic() > stop_at
            )
        else:
            result = user.run(f"sleep {marker}", user.sandbox(), timeout=0.5)
        elapsed = time.monotonic() - started
        assert elapsed < 3.5
        assert (result.interrupted, result.timed_out) == (how == "should_stop", how == "timeout")
        assert not result.passed
        assert processes_with(marker) == []
    finally:
        kill_all_with(marker)


def test_a_stop_requested_before_the_command_starts_runs_nothing(user: User) -> None:
    result = user.run("echo ran > ran.txt", user.sandbox(), should_stop=lambda: True)
    assert result.interrupted and not (user.worktree / "ran.txt").exists()


def test_the_command_line_hides_first_then_re_exposes(user: User) -> None:
    box = Sandbox(
        writable=(user.worktree, Path("/tmp")),
        hidden=(user.checkout,),
        readonly=(user.checkout / ".git",),
    )
    argv = box.wrap(["make", "test"], cwd=user.worktree)
    flat = " ".join(argv)

    assert argv[-3:] == ["--", "make", "test"] and f"--chdir {user.worktree}" in flat
    assert "--cap-drop ALL" in flat and "--unshare-pid" in flat and "--unshare-net" in flat
    assert "--unshare-net" not in Sandbox(network=True).wrap(["true"])
    assert flat.index(f"--tmpfs {user.home}") < flat.index(f"--bind {user.worktree}")
    assert flat.index(f"--tmpfs {user.checkout} ") < flat.index(f"--ro-bind {user.checkout}/.git")
    assert flat.index("--tmpfs /tmp ") < flat.index("--bind /tmp /tmp")


def test_toolchains_under_the_home_come_back_read_only_but_never_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    tools = {
        ".nvm/versions/node/v20.1.0/bin/node": "node",
        ".pyenv/shims/python3": "python3",
        ".local/bin/uv": "uv",  # ~/.local also holds keyrings: only its bin comes back
        ".config/yarn/bin/yarn": "yarn",  # under ~/.config: never
        "bin/pnpm": "pnpm",  # ~/bin's prefix would be the home itself
        "state/tools/bin/git": "git",  # inside another hidden directory: never
    }
    for rel in tools:
        exe = home / rel
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\n")
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    (home / ".local" / "share" / "keyrings").mkdir(parents=True)
    (home / ".ssh").mkdir()
    path = os.pathsep.join(str((home / rel).parent) for rel in tools)

    exposed = toolchain_dirs([home.resolve(), (home / "state").resolve()], path_env=path)

    # (The interpreter running these tests may live in the real home: left out here.)
    assert {p for p in exposed if home in p.parents} == {
        home / ".nvm/versions/node/v20.1.0",
        home / ".pyenv",
        home / ".local/bin",
        home / "bin",
    }


def test_sandbox_problem_is_none_here_and_one_line_with_the_fix_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sandbox_problem() is None  # bubblewrap works on this machine
    fake = tmp_path / "bin"
    fake.mkdir()
    bwrap = fake / "bwrap"
    refusal = "bwrap: No permissions to create new namespace"
    bwrap.write_text(f"#!/bin/sh\necho '{refusal}' >&2\nexit 1\n")
    bwrap.chmod(0o755)
    try:
        with monkeypatch.context() as env:
            env.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
            _forget()
            broken = sandbox_problem()
            env.setenv("PATH", str(tmp_path / "empty"))
            _forget()
            missing = sandbox_problem()
    finally:
        _forget()
    assert broken is not None and "No permissions to create new namespace" in broken
    assert missing is not None and missing.startswith("bwrap (bubblewrap) was not found")
    for line in (broken, missing):
        assert "\n" not in line
        assert "sudo apt-get install bubblewrap" in line and "agent.sandbox: none" in line


def _forget() -> None:
    sandbox_problem.cache_clear()
    sandbox_module.bwrap_path.cache_clear()


def test_agent_sandbox_none_means_no_sandbox(user: User) -> None:
    settings = AgentSettings(sandbox="none")
    assert make_sandbox(settings, repo=user.checkout, worktree=user.worktree) is None


def test_leaked_forms_finds_a_secret_base64_encoded_inside_a_larger_blob() -> None:
    import base64

    secret = "sk-test-0123456789abcdefghij"
    for prefix in ("", "a", "ab", "abc", "KEY="):
        blob = f"{prefix}{secret}\nmore".encode()
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            assert leaked_forms(secret, f"B64:x:{encode(blob).decode()}") != []
    assert leaked_forms(secret, base64.b64encode(b"nothing to see here at all").decode()) == []


def test_tools_installed_under_tmp_come_back_too(tmp_path: Path) -> None:
    """The private /tmp would hide coffee-maker's own virtualenv (and its uv) when it is
    installed there, as a CI checkout is: such tools are re-exposed read-only and run."""
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    tool = venv_bin / "uv"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    exposed = toolchain_dirs([], path_env=str(venv_bin))
    assert tmp_path / "venv" in exposed
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    box = Sandbox(writable=(worktree,), readonly=(tmp_path / "venv",))
    result = run_command(
        [str(tool)], cwd=worktree, timeout=30, output_limit=2000, env=dict(os.environ),
        sandbox=box,
    )  # fmt: skip
    assert result.exit_code == 0 and "tool ran" in result.output, result.output
