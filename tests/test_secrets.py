"""Redaction of hostile output: a key in any encoding, key blocks, vendor tokens, URLs.

Model-written tests run with the user's rights elsewhere in the world; here what they
print is assumed to try everything: the key base64-encoded inside a longer stream, hex,
percent-encoded, an SSH key file, a token of a vendor we were never told about.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from coffee_maker.autonomous.state import RepoState
from coffee_maker.secrets import (
    REDACTED,
    encoded_forms,
    redact,
    redact_text,
    register_secret_names,
    register_secret_value,
    secret_values,
)

KEY = "sk-test-Configured/Key+0123456789=="  # '/' and '+' differ in the two base64 alphabets
ENV = {"ACME_API_KEY": KEY}


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"some longer stream: "])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_key_inside_base64_is_found_at_every_alignment(prefix: bytes, encode) -> None:
    for suffix in (b"", b"!", b"!?", b" and more bytes after it"):
        stream = encode(prefix + KEY.encode() + suffix).decode()
        redacted = redact_text(f"output: {stream} end", ENV)
        assert REDACTED in redacted
        # Nothing decodable of the key survives: no run of 12 of its base64 characters.
        for core in encoded_forms(KEY):
            assert core not in redacted


@pytest.mark.parametrize(
    "form",
    [
        KEY.encode().hex(),
        KEY.encode().hex().upper(),
        quote(KEY, safe=""),
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(KEY, safe="")),
    ],
    ids=["hex", "HEX", "percent", "percent-lower"],
)
def test_hex_and_url_encoded_keys_are_redacted(form: str) -> None:
    assert form != KEY
    assert redact_text(f"dump={form};", ENV) == f"dump={REDACTED};"


def test_a_short_configured_key_is_redacted_but_a_short_guessed_value_is_not(monkeypatch) -> None:
    register_secret_names(["SHORTY_KEY_ENV"])
    monkeypatch.setenv("SHORTY_KEY_ENV", "Zq7#")
    monkeypatch.setenv("LOG_LEVEL_TOKEN", "true")  # looks secret by name, but too short to tell
    text = redact_text("key Zq7# flag true")
    assert text == f"key {REDACTED} flag true"
    assert "Zq7#" in secret_values() and "true" not in secret_values()


def test_a_registered_short_value_is_redacted() -> None:
    register_secret_value("pw42")
    assert redact_text("login with pw42 now") == f"login with {REDACTED} now"


def test_pem_and_openssh_private_key_blocks_go_whole() -> None:
    body = "MIIEowIBAAKCAQEA" + "A" * 200
    rsa = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
    ssh = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    text = redact_text(f"before\n{rsa}\nmiddle\n{ssh}\nafter")
    assert text == f"before\n{REDACTED}\nmiddle\n{REDACTED}\nafter"
    # A block cut off by truncation is redacted to the end.
    assert redact_text(f"x\n-----BEGIN PRIVATE KEY-----\n{body[:50]}") == f"x\n{REDACTED}"


@pytest.mark.parametrize(
    "token",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "rk_live_51H8aBcDeFgHiJkLmNoPqRsTu",
        "glpat-xxxxxxxxxxxxxxxxxxxx",
        "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH",
        "npm_abcdefghijklmnopqrstuvwxyz0123456789",
        "sk-ant-admin01-abcdefghijklmnopqrstuvwxyz012345",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "ya29.a0AfH6SMBx0123456789abcdefghijklmnop",
        "abC1Q~abcdefghijklmnopqrstuvwxyz0123456",
        "ghp_" + "a" * 36,
    ],
)
def test_vendor_token_shapes_are_redacted(token: str) -> None:
    text = redact_text(f"found {token} in the output")
    assert token not in text and REDACTED in text


def test_aws_secret_and_azure_connection_strings_keep_their_names() -> None:
    aws = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    assert redact_text(aws) == f"aws_secret_access_key = {REDACTED}"
    azure = "Protocol=https;AccountName=acct;AccountKey=" + "Ab+/" * 11 + "==;"
    assert redact_text(azure) == f"Protocol=https;AccountName=acct;AccountKey={REDACTED};"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:hunter2@example.com/x", f"https://{REDACTED}@example.com/x"),
        ("https://tok3n@github.com/o/r.git", f"https://{REDACTED}@github.com/o/r.git"),
        ("postgres://app:pw@db:5432/x", f"postgres://{REDACTED}@db:5432/x"),
        ("https://h/x?a=1&token=abc123&b=2", f"https://h/x?a=1&token={REDACTED}&b=2"),
        ("https://h/cb?access_token=zzz#frag", f"https://h/cb?access_token={REDACTED}#frag"),
        ("https://h/maps?key=AbCd", f"https://h/maps?key={REDACTED}"),
        ("ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git"),  # a user, no secret
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ],
)
def test_credentials_in_urls_are_masked(url: str, expected: str) -> None:
    assert redact_text(f"remote {url} failed") == f"remote {expected} failed"


def test_nested_records_are_redacted_and_keys_of_dicts_kept() -> None:
    record = {"url": "https://u:p4ss@h/", "list": [f"x {KEY}"], "n": 3}
    assert redact(record, ENV) == {
        "url": f"https://{REDACTED}@h/",
        "list": [f"x {REDACTED}"],
        "n": 3,
    }


def test_state_json_and_status_never_show_url_credentials(tmp_path: Path) -> None:
    """What the daemon records (a step, an error quoting a remote) and what ``status``
    prints from it: the password of a URL is in neither."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    state = RepoState.load(repo)
    state.set_current("PRIORITY 1", "pushing to https://bot:s3cr3t-pass@git.example.com/o/r")
    state.record_attempt(
        "PRIORITY 1",
        "failure",
        "push failed: fatal: unable to access 'https://bot:s3cr3t-pass@git.example.com/o/r/'",
        pr_url="https://git.example.com/o/r/pull/1?access_token=t0ken-in-query",
    )
    on_disk = state.path.read_text()
    assert "s3cr3t-pass" not in on_disk and "t0ken-in-query" not in on_disk
    assert (
        json.loads(on_disk)["current"]["step"]
        == f"pushing to https://{REDACTED}@git.example.com/o/r"
    )

    # An older state file written before redaction existed: status still hides it.
    raw = json.loads(on_disk)
    raw["priorities"]["PRIORITY 1"]["last_error"] = "https://bot:s3cr3t-pass@host/"
    state.path.write_text(json.dumps(raw))
    cli = str(Path(sys.executable).with_name("code-developer"))
    env = {**os.environ, "COFFEE_MAKER_HOME": str(tmp_path / "home")}
    for args in (["status", "--json"], ["status"]):
        shown = subprocess.run(
            [cli, *args, "--repo", str(repo)], capture_output=True, text=True, env=env
        )
        assert shown.returncode == 0, shown.stderr
        assert "s3cr3t-pass" not in shown.stdout + shown.stderr
    assert REDACTED in shown.stdout or "pushing to" in shown.stdout
