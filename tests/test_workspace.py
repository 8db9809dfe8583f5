"""The workspace jail: what a model's path may name, file operations, the command runner."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from coffee_maker.agent.commands import truncate_middle
from coffee_maker.agent.file_access import open_under
from coffee_maker.agent.settings import AgentSettings
from coffee_maker.agent.workspace import ToolError, Workspace


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "loot.txt").write_text("outside the workspace\n")
    return secret


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (root / ".env").write_text("OPENAI_API_KEY=sk-live-0123456789abcdef0123\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    return Workspace(root, output_limit=1000)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside/loot.txt", "'..' is not allowed"),
        ("src/../../outside/loot.txt", "'..' is not allowed"),
        ("/etc/passwd", "absolute paths"),
        ("~/.ssh/id_rsa", "absolute paths"),
        (".env", "sensitive"),
        ("config/.env.production", "sensitive"),
        ("certs/server.pem", "sensitive"),
        ("deploy/id_rsa.pub", "sensitive"),
        ("secrets/db.txt", "sensitive"),
        (".git/config", ".git is off limits"),
        ("sub/.git", ".git is off limits"),
        (".GIT/HEAD", ".git is off limits"),
    ],
)
def test_paths_outside_the_jail_are_refused(ws: Workspace, path: str, reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        ws.resolve(path)


def test_symlinks_escaping_the_root_are_refused(ws: Workspace, outside: Path) -> None:
    (ws.root / "link.txt").symlink_to(outside / "loot.txt")
    (ws.root / "linkdir").symlink_to(outside)
    (ws.root / "innocent.txt").symlink_to(ws.root / ".env")
    for path in ("link.txt", "linkdir/loot.txt", "linkdir/new.txt"):
        with pytest.raises(ToolError, match="outside the workspace"):
            ws.resolve(path)
    with pytest.raises(ToolError, match="sensitive"):
        ws.read_raw("innocent.txt")
    with pytest.raises(ToolError, match="outside"):
        ws.write_text("linkdir/new.txt", "x")
    assert sorted(p.name for p in outside.iterdir()) == ["loot.txt"]


def test_a_symlink_inside_the_root_is_followed(ws: Workspace) -> None:
    (ws.root / "alias.py").symlink_to(ws.root / "src" / "app.py")
    assert ws.read_raw("alias.py").startswith("def add")


def test_a_symlink_swapped_in_after_the_check_is_not_followed(ws: Workspace, outside: Path) -> None:
    real = ws.resolve("src/app.py")
    real.unlink()
    real.symlink_to(outside / "loot.txt")
    with pytest.raises(ToolError, match="symbolic link"):
        open_under(ws.root, real, os.O_RDONLY)


def test_read_text_numbers_lines_and_honours_ranges(ws: Workspace) -> None:
    (ws.root / "five.txt").write_text("".join(f"line {n}\n" for n in range(1, 6)))
    assert ws.read_text("five.txt", 2, 3) == "     2\tline 2\n     3\tline 3"
    assert ws.read_text("five.txt").splitlines()[-1] == "     5\tline 5"
    with pytest.raises(ToolError, match="only 5 lines"):
        ws.read_text("five.txt", 9)
    with pytest.raises(ToolError, match="no such file"):
        ws.read_text("missing.py")


def test_read_text_cuts_long_files_and_says_how_to_continue(ws: Workspace) -> None:
    (ws.root / "long.txt").write_text("".join(f"{'x' * 50} {n}\n" for n in range(1, 200)))
    shown = ws.read_text("long.txt")
    assert len(shown) < 1200
    assert "call read_file with start_line=" in shown


def test_binary_files_are_refused(ws: Workspace) -> None:
    (ws.root / "blob.bin").write_bytes(b"\x00\x01\x02")
    with pytest.raises(ToolError, match="binary"):
        ws.read_raw("blob.bin")


def test_write_text_creates_parents_and_refuses_git(ws: Workspace) -> None:
    ws.write_text("pkg/sub/new.py", "x = 1\n")
    assert (ws.root / "pkg" / "sub" / "new.py").read_text() == "x = 1\n"
    with pytest.raises(ToolError):
        ws.write_text(".git/config", "[core]\n\tfsmonitor = evil\n")
    assert (ws.root / ".git" / "config").read_text() == "[core]\n"


def test_a_fifo_in_the_tree_does_not_hang_reads_search_or_snapshots(ws: Workspace) -> None:
    os.mkfifo(ws.root / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        ws.read_raw("pipe")
    assert ws.search("add") == ["src/app.py:1: def add(a, b):"]
    assert "pipe" not in ws.snapshot()


def test_text_that_is_not_unicode_is_refused(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="not valid Unicode"):
        ws.write_text("odd.txt", "half a pair \ud800")
    assert not (ws.root / "odd.txt").exists()


def test_from_settings_uses_the_configured_patterns_and_budget(tmp_path: Path) -> None:
    settings = AgentSettings(sensitive_files=["*.secret"], output_limit=1000)
    ws = Workspace.from_settings(tmp_path, settings)
    (tmp_path / ".env").write_text("A=1\n")
    assert ws.read_raw(".env") == "A=1\n"  # the config replaced the default patterns
    with pytest.raises(ToolError, match="sensitive"):
        ws.resolve("db.secret")
    assert ws.output_limit == 1000


def test_listing_respects_gitignore_and_hides_git_and_secrets(ws: Workspace) -> None:
    (ws.root / ".gitignore").write_text("build/\n*.log\n")
    (ws.root / "build").mkdir()
    (ws.root / "build" / "out.js").write_text("")
    (ws.root / "debug.log").write_text("")
    (ws.root / "src" / ".gitignore").write_text("generated.py\n")
    (ws.root / "src" / "generated.py").write_text("")
    (ws.root / "src" / "__pycache__").mkdir()
    entries = ws.list_files()
    assert entries == [".gitignore", "src/", "src/.gitignore", "src/app.py"]
    assert ws.list_files("src") == ["src/.gitignore", "src/app.py"]


def test_search_finds_lines_in_text_files_only(ws: Workspace) -> None:
    (ws.root / ".gitignore").write_text("vendor/\n")
    (ws.root / "vendor").mkdir()
    (ws.root / "vendor" / "lib.py").write_text("def add(x): pass\n")
    (ws.root / "blob.bin").write_bytes(b"def add\x00")
    assert ws.search(r"def \w+\(") == ["src/app.py:1: def add(a, b):"]
    assert ws.search("return", "src/app.py") == ["src/app.py:2:     return a + b"]
    assert ws.search("OPENAI") == []  # .env is never searched
    with pytest.raises(ToolError, match="not a valid regular expression"):
        ws.search("(unclosed")


def test_search_is_capped(ws: Workspace) -> None:
    (ws.root / "many.txt").write_text("hit\n" * 50)
    found = ws.search("hit", max_matches=10)
    assert len(found) == 11 and "more than 10 matches" in found[-1]


def test_changed_files_sees_added_modified_and_deleted(ws: Workspace) -> None:
    (ws.root / "gone.txt").write_text("bye")
    before = ws.snapshot()
    (ws.root / "gone.txt").unlink()
    ws.write_text("src/app.py", "def add(a, b):\n    return b + a\n")
    ws.write_text("src/new.py", "")
    (ws.root / "src" / "__pycache__").mkdir()
    (ws.root / "src" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"x")
    assert ws.changed_files(before) == ["gone.txt", "src/app.py", "src/new.py"]


def test_run_merges_output_and_reports_the_exit_code(ws: Workspace) -> None:
    result = ws.run("echo out; echo err >&2; exit 3", timeout=10)
    assert result.exit_code == 3 and not result.timed_out
    assert "out" in result.output and "err" in result.output
    assert result.duration >= 0


def test_run_truncates_output_keeping_head_and_tail(ws: Workspace) -> None:
    script = "print('HEAD'); print('x' * 5000); print('TAIL')"
    result = ws.run(f'{sys.executable} -c "{script}"', timeout=10)
    assert result.output.startswith("HEAD")
    assert result.output.rstrip().endswith("TAIL")
    assert "characters cut ...]" in result.output
    assert len(result.output) < 1100


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_timeout_kills_the_whole_process_group(ws: Workspace) -> None:
    started = time.monotonic()
    result = ws.run("sleep 60 & echo $! > child.pid; sleep 60", timeout=0.5)
    assert result.timed_out
    assert "timed out after 0.5 seconds" in result.output
    assert time.monotonic() - started < 10
    child = int((ws.root / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_a_background_child_does_not_hold_the_runner(ws: Workspace) -> None:
    started = time.monotonic()
    result = ws.run("(sleep 30; touch late.txt) & echo started", timeout=20)
    assert result.exit_code == 0 and "started" in result.output
    assert time.monotonic() - started < 10
    time.sleep(0.2)
    assert not (ws.root / "late.txt").exists()


def test_commands_get_an_environment_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdefghijklmnopqrstuvwx")
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-123456789")
    monkeypatch.setenv("VENDOR_SECRET", "hunter2hunter2")
    monkeypatch.setenv("MY_COMPANY_CREDS", "configured-secret-value")
    monkeypatch.setenv("INNOCENT_NAME", "sk-proj-abcdefghijklmnopqrstuvwxyz012")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    ws = Workspace(tmp_path, secret_env_names=["MY_COMPANY_CREDS"])
    output = ws.run("env", timeout=10).output
    assert "HARMLESS_SETTING=visible" in output
    for leaked in ("OPENAI_API_KEY", "DEPLOY_TOKEN", "VENDOR_SECRET", "MY_COMPANY_CREDS"):
        assert leaked not in output
    for value in ("abcdefghijklmnopqrstuvwx", "tok-123456789", "hunter2", "configured-secret"):
        assert value not in output
    assert "INNOCENT_NAME" not in output


def test_truncate_middle_keeps_short_text_whole() -> None:
    assert truncate_middle("short", 100) == "short"
    cut = truncate_middle("a" * 60 + "b" * 60, 100)
    assert cut.startswith("a" * 50) and cut.endswith("b" * 50)
    assert "[... 20 characters cut ...]" in cut
