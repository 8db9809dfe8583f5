"""Log output: JSON lines or console, context on every line, and no secret ever printed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest
import structlog

from coffee_maker.logging import (
    NOISY_LOGGERS,
    bind_context,
    clear_context,
    configure_logging,
    get_logger,
)
from coffee_maker.secrets import register_secret_names

SECRET = "sk-ant-test-SECRET-0123456789abcdefXYZ"
PLAIN_SECRET = "vendor-credential-without-any-known-shape"


@pytest.fixture(autouse=True)
def restore_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test configures the root logger; put back what was there."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    config = structlog.get_config()
    yield
    clear_context()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)
    structlog.configure(**config)


def capture(**options) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(stream=stream, **options)
    return stream


def json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def log_secrets_everywhere(secret: str) -> None:
    log = get_logger("coffee_maker.test")
    log.info(f"calling the API with {secret}")
    log.info("request", api_key=secret, headers={"x-api-key": [secret]}, error=ValueError(secret))
    log.warning("positional %s", secret)
    try:
        raise RuntimeError(f"401 for key {secret}")
    except RuntimeError:
        log.exception("provider failed")
    logging.getLogger("anthropic._base_client").warning("header %s", secret, extra={"k": secret})


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "console"])
def test_a_key_from_the_environment_never_reaches_the_output(as_json: bool) -> None:
    stream = capture(json=as_json)
    log_secrets_everywhere(SECRET)
    output = stream.getvalue()
    assert SECRET not in output and "sk-ant-" not in output
    assert output.count("[REDACTED]") >= 8
    assert "RuntimeError: 401 for key [REDACTED]" in output  # the traceback is kept, redacted
    assert "provider failed" in output and "calling the API with" in output


def test_values_of_registered_secret_names_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    register_secret_names(["VENDOR_CREDENTIAL"])
    monkeypatch.setenv("VENDOR_CREDENTIAL", PLAIN_SECRET)
    stream = capture(json=True)
    log_secrets_everywhere(PLAIN_SECRET)
    assert PLAIN_SECRET not in stream.getvalue()
    assert stream.getvalue().count("[REDACTED]") >= 8


def test_json_lines_carry_timestamp_level_event_and_logger() -> None:
    stream = capture(json=True)
    get_logger("coffee_maker.daemon").info("iteration started", n=1)
    logging.getLogger("apscheduler.scheduler").warning("job missed")
    first, second = json_lines(stream)
    assert first["event"] == "iteration started" and first["n"] == 1
    assert (first["level"], first["logger"]) == ("info", "coffee_maker.daemon")
    assert (second["level"], second["logger"]) == ("warning", "apscheduler.scheduler")
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset().total_seconds() == 0


def test_json_is_chosen_when_the_stream_is_not_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    piped = capture()
    get_logger("x").info("hello")
    assert json.loads(piped.getvalue())["event"] == "hello"

    terminal = Terminal()
    configure_logging(stream=terminal)
    get_logger("x").info("hello")
    line = terminal.getvalue()
    assert "hello" in line and not line.startswith("{") and "\x1b[" in line  # coloured


def test_priority_and_provider_are_on_every_line() -> None:
    stream = capture(json=True)
    bind_context(priority="PRIORITY 3", provider="claude")
    get_logger("coffee_maker.agent").info("tool call", tool="read_file")
    logging.getLogger("github.Requester").warning("slow")
    bind_context(provider="openai")
    get_logger("coffee_maker.agent").info("fell back")
    bind_context(provider=None)
    get_logger("coffee_maker.agent").info("between providers")
    clear_context()
    get_logger("coffee_maker.daemon").info("idle")
    lines = json_lines(stream)
    assert [(line.get("priority"), line.get("provider")) for line in lines] == [
        ("PRIORITY 3", "claude"),
        ("PRIORITY 3", "claude"),
        ("PRIORITY 3", "openai"),
        ("PRIORITY 3", None),
        (None, None),
    ]


def test_noisy_libraries_are_quiet_unless_verbose() -> None:
    # Only this test's loggers: a thread left by another test may log meanwhile.
    ours = {"urllib3.connectionpool", "httpx", "coffee_maker.x"}

    def events(stream: io.StringIO) -> list[str]:
        return [line["event"] for line in json_lines(stream) if line.get("logger") in ours]

    stream = capture(json=True)
    logging.getLogger("urllib3.connectionpool").info("Starting new HTTP connection")
    logging.getLogger("httpx").info("HTTP Request: POST")
    logging.getLogger("urllib3.connectionpool").warning("Retrying")
    get_logger("coffee_maker.x").debug("detail")
    assert events(stream) == ["Retrying"]

    verbose = capture(json=True, verbose=True)
    logging.getLogger("httpx").info("HTTP Request: POST")
    get_logger("coffee_maker.x").debug("detail")
    assert events(verbose) == ["HTTP Request: POST", "detail"]


def test_configuring_twice_does_not_duplicate_lines() -> None:
    capture(json=True)
    stream = capture(json=True)
    get_logger("x").info("once")
    assert len(json_lines(stream)) == 1


def test_loggers_redact_even_before_logging_is_configured(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO):
        get_logger("coffee_maker.early").info("starting with", key=SECRET)
    assert "starting with" in caplog.text and SECRET not in caplog.text
