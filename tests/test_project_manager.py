"""``project-manager``: what a user types and what they read back, against real files,
real git, and vendor fakes answering over real HTTP."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.ollama import FakeOllama

from coffee_maker.ai_providers.env_file import load_env_file, read_env_file, update_env_file
from coffee_maker.ai_providers.provider_config import BUILTIN_CONFIG
from coffee_maker.cli.project_manager import main
from coffee_maker.fakes.openai import FakeOpenAI
from coffee_maker.fakes.server import FakeServer, RecordedRequest, Reply

KEY = "sk-test-" + "k" * 32


@pytest.fixture
def openai_fake():
    with FakeOpenAI(api_key=KEY, models=["gpt-a", "gpt-b", "gpt-c"]) as fake:
        yield fake


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ai_providers.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def fake_config(tmp_path: Path, url: str, *, extra: str = "") -> Path:
    return write_config(
        tmp_path,
        f"""default_provider: openai
providers:
  openai:
    model: gpt-a
    fallback_models: [gpt-z]
    base_url: {url}/v1
    api_key_env: OPENAI_API_KEY
  gemini:
    model: gemini-2.5-flash
    api_key_env: GOOGLE_API_KEY
  spare:
    type: openai
    enabled: false
    model: gpt-b
{extra}""",
    )


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- startup -------------------------------------------------------------------------------


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from coffee_maker.cli.project_manager import main\n"
        "try:\n    main(['provider', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ['pydantic', 'rich', 'anthropic', 'openai', 'google.genai', 'ollama', 'yaml']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "provider status" not in proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_usage_mistake_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["provider", "costs", "--days", "zero"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--days" in err


def test_invalid_config_names_the_key_without_traceback(tmp_path, capsys):
    path = write_config(tmp_path, "providers:\n  openai:\n    max_tokens: -5\n")
    code, _, err = run(capsys, "provider", "compare", "--config", str(path))
    assert code == 2
    assert "providers.openai.max_tokens" in err and str(path) in err
    assert "Traceback" not in err and err.count("\n") == 1


# -- status --------------------------------------------------------------------------------


def test_status_reports_each_provider_without_showing_the_key(
    tmp_path, capsys, monkeypatch, openai_fake
):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    path = fake_config(tmp_path, openai_fake.url)
    code, out, _ = run(capsys, "provider", "status", "--config", str(path), "--json")
    assert code == 0
    assert KEY not in out
    report = json.loads(out)
    rows = {row["name"]: row for row in report["providers"]}
    assert report["usable"] is True and report["default_provider"] == "openai"
    assert rows["openai"]["key"] == {
        "env": "OPENAI_API_KEY",
        "present": True,
        "source": "environment",
    }
    assert rows["openai"]["reachable"]["outcome"] == "ok"
    assert rows["openai"]["reachable"]["model_count"] == 3
    assert rows["gemini"]["key"]["present"] is False
    assert rows["gemini"]["reachable"]["outcome"] == "skipped"
    assert rows["spare"]["reachable"] == {
        "outcome": "skipped",
        "detail": "disabled",
        "error_kind": None,
        "model_count": 0,
    }
    assert [r.path for r in openai_fake.requests] == ["/v1/models"]  # listing only: no spend


def test_status_table_and_exit_1_when_the_default_is_refused(
    tmp_path, capsys, monkeypatch, openai_fake
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-" + "w" * 30)
    path = fake_config(tmp_path, openai_fake.url)
    code, out, _ = run(capsys, "provider", "status", "--config", str(path))
    assert code == 1
    assert "no: auth" in out
    assert "Default provider openai: not usable" in out
    assert "GOOGLE_API_KEY unset" in out


class SlowModels(FakeServer):
    """Answers the model listing, but only after the client should have given up."""

    def route(self, request: RecordedRequest) -> Reply:
        return Reply(200, {"object": "list", "data": []}, delay=1.5)


def test_status_gives_up_on_a_silent_vendor_after_the_timeout(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with SlowModels() as slow:
        path = fake_config(tmp_path, slow.url)
        code, out, _ = run(
            capsys, "provider", "status", "--config", str(path), "--json", "--timeout", "0.3"
        )
    row = next(r for r in json.loads(out)["providers"] if r["name"] == "openai")
    assert code == 1  # the listing would have succeeded, had status waited 1.5 s for it
    assert row["reachable"]["error_kind"] == "timeout"


def test_status_shows_a_persisted_cooldown_and_request_quota(
    tmp_path, capsys, monkeypatch, openai_fake
):
    from coffee_maker.ai_providers.quotas import ProviderStateStore

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    path = fake_config(tmp_path, openai_fake.url)
    text = path.read_text().replace(
        "    model: gpt-a\n", "    model: gpt-a\n    daily_requests: 5\n"
    )
    path.write_text(text)
    store = ProviderStateStore()
    store.take_request("openai", 5, None)
    store.set_cooldown("openai", time.time() + 600, "insufficient_quota")
    code, out, _ = run(capsys, "provider", "status", "--config", str(path), "--json")
    row = next(r for r in json.loads(out)["providers"] if r["name"] == "openai")
    assert code == 1
    assert row["cooldown"]["reason"] == "insufficient_quota"
    assert row["requests"]["today"] == 1 and row["requests"]["daily_limit"] == 5
    code, out, _ = run(capsys, "provider", "status", "--config", str(path))
    assert "cooling down until" in out and "1/5 requests today" in out


def test_status_reads_keys_from_the_env_file(tmp_path, capsys, openai_fake):
    from coffee_maker.ai_providers.env_file import default_env_file

    update_env_file(default_env_file(), {"OPENAI_API_KEY": KEY})
    path = fake_config(tmp_path, openai_fake.url)
    code, out, _ = run(capsys, "provider", "status", "--config", str(path), "--json")
    row = next(r for r in json.loads(out)["providers"] if r["name"] == "openai")
    assert code == 0
    assert row["key"]["source"] == "env file"


# -- switch --------------------------------------------------------------------------------


def test_switch_changes_only_that_line(tmp_path, capsys):
    original = BUILTIN_CONFIG.read_bytes()
    path = tmp_path / "ai_providers.yaml"
    path.write_bytes(original)
    path.chmod(0o640)
    code, out, _ = run(capsys, "provider", "switch", "openai", "--config", str(path))
    assert code == 0 and "claude -> openai" in out
    before, after = original.decode().splitlines(True), path.read_text().splitlines(True)
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [("default_provider: claude\n", "default_provider: openai\n")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_switch_keeps_quotes_comments_and_crlf(tmp_path, capsys):
    text = (
        '# mine\r\ndefault_provider: "claude"   # pick one\r\n'
        "providers:\r\n  claude: {}\r\n  ollama: {model: m}   # local\r\n"
    )
    path = write_config(tmp_path, "")
    path.write_bytes(text.encode())
    code, _, _ = run(capsys, "provider", "switch", "ollama", "--config", str(path))
    assert code == 0
    assert path.read_bytes().decode() == text.replace('"claude"', '"ollama"')


def test_switch_to_an_unknown_name_lists_the_configured_ones(tmp_path, capsys):
    path = tmp_path / "ai_providers.yaml"
    path.write_bytes(BUILTIN_CONFIG.read_bytes())
    code, _, err = run(capsys, "provider", "switch", "nope", "--config", str(path))
    assert code == 2
    assert err.count("\n") == 1
    assert "'nope'" in err and "claude, claude-cli, openai" in err and str(path) in err
    assert path.read_bytes() == BUILTIN_CONFIG.read_bytes()


def test_switch_without_a_config_file_points_to_setup(tmp_path, capsys):
    code, _, err = run(capsys, "provider", "switch", "openai", "--repo", str(tmp_path))
    assert code == 2 and "project-manager setup" in err


def test_switch_edits_the_repository_config_found_by_lookup(tmp_path, capsys):
    (tmp_path / "config").mkdir()
    path = tmp_path / "config" / "ai_providers.yaml"
    path.write_text("default_provider: a\nproviders:\n  a: {type: ollama}\n  b: {type: ollama}\n")
    code, _, _ = run(capsys, "provider", "switch", "b", "--repo", str(tmp_path))
    assert code == 0 and path.read_text().startswith("default_provider: b\n")


# -- compare -------------------------------------------------------------------------------


def test_compare_builds_the_table_from_config_and_prices(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # one line per row, to read it back
    code, out, _ = run(capsys, "provider", "compare", "--config", str(BUILTIN_CONFIG))
    assert code == 0
    lines = {line.split("│")[3].strip(): line for line in out.splitlines() if line.count("│") > 5}
    sonnet = lines["claude-sonnet-4-6"]
    assert all(price in sonnet for price in ("3.00", "15.00", "0.30", "3.75"))
    assert "tools" in sonnet and "ANTHROPIC_API_KEY" in sonnet
    assert "1.00" in lines["fallback: claude-haiku-4-5"]
    assert "0.075" in lines["gpt-5.4-mini"]
    assert "free" in lines["qwen2.5-coder:14b"]
    assert "agentic" in lines["sonnet"]


def test_compare_marks_a_model_missing_from_the_price_table(tmp_path, capsys):
    path = write_config(tmp_path, "providers:\n  acme:\n    type: openai\n    model: acme-x\n")
    code, out, _ = run(capsys, "provider", "compare", "--config", str(path))
    assert code == 0 and "*" in out and "not in the price table" in out


# -- models --------------------------------------------------------------------------------


def test_models_lists_caches_and_marks_deprecated_and_unknown(
    tmp_path, capsys, monkeypatch, openai_fake
):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    path = fake_config(tmp_path, openai_fake.url)
    code, out, err = run(capsys, "provider", "models", "openai", "--config", str(path))
    assert code == 0, err
    assert "gpt-c" in out and "gpt-z" in out and "NOT listed by the vendor" in out
    assert len(openai_fake.requests) == 1

    code, out, _ = run(capsys, "provider", "models", "openai", "--config", str(path))
    assert code == 0 and len(openai_fake.requests) == 1  # a fresh cache is used
    assert "just now" in out

    openai_fake.models = ["gpt-a", "gpt-b"]
    code, out, _ = run(capsys, "provider", "models", "openai", "--config", str(path), "--refresh")
    assert code == 0 and len(openai_fake.requests) == 2
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert f"deprecated (no longer listed since {today})" in out
    cache = json.loads((Path(os.environ["COFFEE_MAKER_HOME"]) / "models_cache.json").read_text())
    assert cache["providers"]["openai"]["models"] == ["gpt-a", "gpt-b"]
    assert "gpt-c" in cache["providers"]["openai"]["deprecated"]


def test_models_unreachable_exits_1_and_shows_the_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(api_key=KEY, models=["gpt-a"]) as fake:
        path = fake_config(tmp_path, fake.url)
        assert run(capsys, "provider", "models", "openai", "--config", str(path))[0] == 0
    code, out, err = run(
        capsys, "provider", "models", "openai", "--config", str(path), "--refresh", "--timeout", "2"
    )
    assert code == 1
    assert "openai: unreachable: connection" in err and "showing the cached list" in err
    assert "gpt-a" in out and "fetched" in out


def test_models_for_every_enabled_provider_reads_ollama_tags(tmp_path, capsys):
    with FakeOllama(models=["qwen2.5-coder:14b", "llama3.2:latest"]) as fake:
        path = write_config(
            tmp_path, f"providers:\n  ollama:\n    model: llama3.2\n    host: {fake.url}\n"
        )
        code, out, _ = run(capsys, "provider", "models", "--config", str(path))
    assert code == 0
    assert "llama3.2" in out and "configured model" in out and "NOT listed" not in out


# -- costs ---------------------------------------------------------------------------------


def test_costs_shows_spend_against_limits_and_exports_csv(tmp_path, capsys, monkeypatch):
    from coffee_maker.ai_providers.cost_tracker import CostTracker

    monkeypatch.setenv("COLUMNS", "200")
    tracker = CostTracker()
    tracker.track_cost("openai", 0.25, {"input_tokens": 1000, "output_tokens": 200}, model="m")
    tracker.track_cost("claude", 1.5, {"input_tokens": 9000, "output_tokens": 900}, model="s")
    path = write_config(tmp_path, "providers:\n  ollama: {}\ncost_controls:\n  daily_limit: 10\n")
    csv_file = tmp_path / "calls.csv"
    code, out, _ = run(
        capsys, "provider", "costs", "--config", str(path), "--days", "3", "--csv", str(csv_file)
    )
    assert code == 0
    assert "openai" in out and "claude" in out and "Per day" in out
    assert "$1.75" in out and "$10.00" in out
    assert len(csv_file.read_text().splitlines()) == 3  # header + two calls


def test_costs_csv_into_a_missing_directory_names_the_flag(tmp_path, capsys):
    code, _, err = run(capsys, "provider", "costs", "--csv", str(tmp_path / "no" / "x.csv"))
    assert code == 2 and "--csv" in err


# -- roadmap -------------------------------------------------------------------------------


ROADMAP = """# Roadmap

## PRIORITY 1: Setup ✅

## PRIORITY 2: Add a [json] flag 📝
**Dependencies**: PRIORITY 1

## PRIORITY 3: Faster startup 📝

## PRIORITY 4: Later 📝
**Dependencies**: PRIORITY 3
"""


def git_repo(tmp_path: Path, roadmap: str) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "ROADMAP.md").write_text(roadmap, encoding="utf-8")
    return repo


def test_roadmap_marks_next_blocked_and_waiting(tmp_path, capsys):
    from coffee_maker.autonomous.state import RepoState

    repo = git_repo(tmp_path, ROADMAP)
    state = RepoState.load(repo)
    for _ in range(2):
        state.record_attempt("PRIORITY 2", "failure", error="tests failed", max_attempts=2)
    code, out, _ = run(capsys, "roadmap", "--repo", str(repo))
    assert code == 0
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "Add a [json] flag" in rows["PRIORITY 2"]
    assert "blocked by the daemon: failed 2 times" in rows["PRIORITY 2"]
    assert "NEXT" in rows["PRIORITY 3"]
    assert "waiting for PRIORITY 3" in rows["PRIORITY 4"]
    assert "Complete" in rows["PRIORITY 1"]
    assert "tests: none (no test command configured or detected)" in out


def test_roadmap_says_how_changes_will_be_verified_and_awaiting_review(tmp_path, capsys):
    from coffee_maker.autonomous.state import RepoState

    repo = git_repo(tmp_path, ROADMAP)
    (repo / "tox.ini").write_text("[pytest]\naddopts = -q\n")
    state = RepoState.load(repo)
    state.record_attempt(
        "PRIORITY 3", "unverified", "0 tests ran (exit 5)", verdict="0 tests ran", pr_url="u/7"
    )
    code, out, _ = run(capsys, "roadmap", "--repo", str(repo))
    assert code == 0
    assert "tests: python -m pytest (pytest configured in tox.ini [pytest])" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "awaiting review (unverified: 0 tests ran)" in rows["PRIORITY 3"]


def test_roadmap_unreadable_is_a_clear_error(tmp_path, capsys):
    repo = git_repo(tmp_path, "")
    (repo / "ROADMAP.md").write_bytes(b"## PRIORITY 1: caf\xe9\n")
    code, _, err = run(capsys, "roadmap", "--repo", str(repo))
    assert code == 2
    assert "ROADMAP.md: not UTF-8 text (byte 18)" in err and "Traceback" not in err


def test_roadmap_duplicates_are_warnings_and_held(tmp_path, capsys):
    repo = git_repo(tmp_path, "## PRIORITY 1: a\n\n## PRIORITY 1: b\n\n## PRIORITY 2: c\n")
    code, out, err = run(capsys, "roadmap", "--repo", str(repo))
    assert code == 0
    [warning] = err.splitlines()
    assert warning.startswith("project-manager: warning: ") and "ROADMAP.md:3: duplicate" in warning
    assert "lines 1, 3" in warning and "--priority 'PRIORITY 1@3'" in warning
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "held: duplicate id" in rows["PRIORITY 1@1"] and "held" in rows["PRIORITY 1@3"]
    assert "NEXT" in rows["PRIORITY 2"]


def test_roadmap_outside_a_git_repository(tmp_path, capsys):
    (tmp_path / "ROADMAP.md").write_text(ROADMAP)
    code, _, err = run(capsys, "roadmap", "--repo", str(tmp_path))
    assert code == 2 and "not a git repository" in err


# -- the env file --------------------------------------------------------------------------


def test_env_file_update_keeps_other_lines_and_is_private(tmp_path, monkeypatch):
    path = tmp_path / "env"
    path.write_text("# keys\nOTHER=1\nOPENAI_API_KEY=old\nOPENAI_API_KEY=older\nLAST=x")
    path.chmod(0o644)
    update_env_file(path, {"OPENAI_API_KEY": KEY, "NEW_API_KEY": "sk-new-value-123"})
    assert path.read_text() == (
        f"# keys\nOTHER=1\nOPENAI_API_KEY={KEY}\nLAST=x\nNEW_API_KEY=sk-new-value-123\n"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("OTHER", "from-shell")
    monkeypatch.delenv("LAST", raising=False)
    added = load_env_file(path)
    assert os.environ["OTHER"] == "from-shell" and "OTHER" not in added
    assert os.environ["LAST"] == "x"
    assert read_env_file(path)["NEW_API_KEY"] == "sk-new-value-123"
    with pytest.raises(ValueError, match="spaces"):
        update_env_file(path, {"BAD_API_KEY": "two words"})


def test_roadmap_reports_a_cycle_and_counts_in_the_singular(tmp_path, capsys):
    repo = git_repo(tmp_path, "## PRIORITY 1: a\n**Dependencies**: PRIORITY 1.1\n")
    code, out, err = run(capsys, "roadmap", "--repo", str(repo))
    assert code == 0
    # The table's title wraps to the table's width, anywhere in the path before it.
    assert re.search(r": 1\s+priority\s", out) and not re.search(r"\b1\s+priorities", out)
    cycle = "## PRIORITY 1.1: b\n**Dependencies**: PRIORITY 1\n"
    (repo / "ROADMAP.md").write_text((repo / "ROADMAP.md").read_text() + cycle)
    code, out, err = run(capsys, "roadmap", "--repo", str(repo))
    assert code == 0 and re.search(r": 2\s+priorities\s", out)
    [warning] = err.splitlines()
    assert warning.startswith("project-manager: warning: ")
    assert "ROADMAP.md:2: dependency cycle: PRIORITY 1 -> PRIORITY 1.1 -> PRIORITY 1;" in warning
