"""Google's Gemini CLI (``gemini -p``) as an agentic provider: it gets the whole task.

It runs headless in the worktree as ``gemini -p "" -o stream-json --approval-mode
auto_edit --skip-trust -m MODEL`` with the prompt on stdin: file edits are approved, the
shell is not offered (``allow_shell: true`` makes it ``yolo``). ``base_url`` becomes
``GOOGLE_GEMINI_BASE_URL`` (a gateway, a test fake).

With an API key (``api_key_env``, default ``GEMINI_API_KEY``) it runs with a
``GEMINI_CLI_HOME`` of its own under coffee-maker's state directory, whose settings select
the API key (with a custom endpoint the CLI would otherwise pick an auth type it then
refuses), turn folder trust and usage statistics off and cap the turns (``max_turns``);
without a key it uses the user's own ``~/.gemini``, where a Google login lives.

Its stream-json events (``init``, ``message``, ``tool_use``, ``tool_result``, ``error``,
``result`` with ``stats``) become the result, like Codex's: the last assistant message,
the usage priced from the price table, the tools it ran in ``metadata["actions"]``.
Failures are classified from the result's error message, else from the exit code
(:data:`EXIT_CODES`). On a 429 the CLI retries by itself for minutes and never falls back:
at its first failed attempt with a suggested retry delay (on its stderr) the run is stopped
and the error classified (a quota, with that delay as its reset), so FallbackStrategy moves
on and cools the provider down meanwhile. Wall time, stalls and the budget cap are
enforced from outside as for Codex.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.base import (
    BaseAIProvider,
    ChatRequest,
    ProviderCapability,
    ProviderResult,
    make_usage,
)
from coffee_maker.ai_providers.cli_errors import classify_cli_message
from coffee_maker.ai_providers.errors import (
    ErrorKind,
    ProviderError,
    ProviderTimeoutError,
    UnknownProviderError,
    make_error,
)
from coffee_maker.ai_providers.providers.agent_cli import (
    SpendEstimate,
    cli_environ,
    find_binary,
    run_streaming,
)
from coffee_maker.ai_providers.providers.claude_cli_provider import flatten_conversation
from coffee_maker.paths import user_state_dir
from coffee_maker.secrets import redact_text, register_secret_value

#: The CLI's exit codes (headless mode) in the error taxonomy; 53 is a result, not an error.
EXIT_CODES: dict[int, tuple[str, ErrorKind]] = {
    41: ("authentication failed", ErrorKind.AUTH),
    42: ("invalid input", ErrorKind.BAD_REQUEST),
    44: ("sandbox error", ErrorKind.UNKNOWN),
    52: ("configuration error", ErrorKind.BAD_REQUEST),
    54: ("tool execution failed", ErrorKind.UNKNOWN),
    55: ("untrusted workspace", ErrorKind.BAD_REQUEST),
    130: ("cancelled", ErrorKind.UNKNOWN),
}
TURN_LIMIT_EXIT = 53
#: Failed attempts with a suggested retry delay (a quota) the CLI may retry on its own
#: before the run is stopped: it would wait that long, and the fallback need not.
RETRIES_SEEN = 1
ATTEMPT = re.compile(r"Attempt (\d+) failed: (.+)")
SUGGESTED = re.compile(r"Suggested retry after [\d.]+ ?s", re.IGNORECASE)
#: The CLI's own instructions and tool definitions, in tokens, sent with every request.
BASE_PROMPT_TOKENS = 9_000
OUTPUT_TAIL = 600
TEXT_TAIL = 300


@dataclass
class GeminiRun:
    """What the events of one ``gemini -p`` run said, folded as they arrive."""

    spend: SpendEstimate
    session_id: str | None = None
    model: str | None = None
    messages: list[str] = field(default_factory=lambda: [""])
    actions: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] | None = None
    status: str | None = None  # the result's status
    failure: str | None = None  # the result's error message
    errors: list[str] = field(default_factory=list)  # non-fatal error events
    attempt: str | None = None  # the last failed attempt the CLI is retrying
    attempts: int = 0

    def on_event(self, event: dict[str, Any]) -> str | None:
        kind = event.get("type")
        if kind == "init":
            self.session_id = str(event.get("session_id") or "") or None
            self.model = str(event.get("model") or "") or None
        elif kind == "message" and event.get("role") == "assistant":
            self.messages[-1] += str(event.get("content") or "")
        elif kind == "tool_use":
            parameters = json.dumps(event.get("parameters") or {})
            self.actions.append(
                {
                    "type": "tool",
                    "tool": str(event.get("tool_name") or ""),
                    "id": str(event.get("tool_id") or ""),
                    "parameters": parameters[:OUTPUT_TAIL],
                }
            )
            self.messages.append("")
            self.spend.round(parameters)
        elif kind == "tool_result":
            output = str(event.get("output") or "")
            for action in self.actions:
                if action["id"] == str(event.get("tool_id") or ""):
                    action["status"] = event.get("status")
                    action["output"] = output[-OUTPUT_TAIL:]
            self.spend.round(output)
        elif kind == "error":
            self.errors.append(str(event.get("message") or ""))
        elif kind == "result":
            self._result(event)
        return "budget" if self.spend.over(self.usage) else None

    def _result(self, event: Mapping[str, Any]) -> None:
        self.status = str(event.get("status") or "")
        error = event.get("error")
        if isinstance(error, Mapping):
            self.failure = str(error.get("message") or error.get("type") or "error")
        stats = event.get("stats")
        if isinstance(stats, Mapping):
            cached = int(stats.get("cached") or 0)
            total_in = int(stats.get("input_tokens") or 0)
            self.usage = make_usage(
                stats.get("input", total_in - cached), stats.get("output_tokens"), cached
            )

    def on_stderr(self, line: str) -> str | None:
        """Follow the CLI's own retries; stop it once it keeps retrying."""
        attempt = ATTEMPT.search(line)
        if attempt:
            self.attempts = int(attempt.group(1))
            self.attempt = attempt.group(2).strip()
            return None
        if self.attempt and SUGGESTED.search(line):
            self.attempt += " " + line.strip()
            if self.attempts >= RETRIES_SEEN:
                return "retrying"
        return None

    @property
    def content(self) -> str:
        return next((m for m in reversed(self.messages) if m.strip()), "")


class GeminiCLIProvider(BaseAIProvider):
    """The Gemini CLI, working in ``working_dir`` by itself (API key or Google login)."""

    provider_type = "gemini-cli"
    default_api_key_env = "GEMINI_API_KEY"
    default_capabilities = frozenset({ProviderCapability.TEXT, ProviderCapability.AGENTIC})
    bounded_io = False

    def binary(self) -> str | None:
        return find_binary(self.settings.cli_path or "gemini")

    def check_available(self) -> bool:
        """The binary is there. A key is optional: the CLI may be logged in to Google."""
        return self.binary() is not None

    def describe_unavailable(self) -> str:
        return (
            f"Gemini CLI not found: {self.settings.cli_path or 'gemini'} (install it with "
            f"`npm install -g @google/gemini-cli`, or set providers.{self.name}.cli_path)"
        )

    def worst_case_cost(self, input_tokens: int, output_tokens: int) -> float:
        """A run is many model requests: its cap (``max_budget_usd``) is its worst case."""
        one_request = super().worst_case_cost(input_tokens, output_tokens)
        return max(one_request, self.settings.max_budget_usd or 0.0)

    # -- the command -------------------------------------------------------------------------
    def command(self, binary: str) -> list[str]:
        """The argument list; the prompt goes to stdin (``-p ""`` reads it from there)."""
        mode = "yolo" if self.settings.allow_shell else "auto_edit"
        command = [binary, "-p", "", "--output-format", "stream-json"]
        command += ["--approval-mode", mode, "--skip-trust"]
        return command + (["--model", self.model] if self.model else [])

    def cli_home(self) -> Path:
        """The ``GEMINI_CLI_HOME`` of API-key runs: settings of coffee-maker's own."""
        home = user_state_dir() / "gemini-cli" / self.name
        settings = {
            "security": {
                "auth": {"selectedType": "gemini-api-key"},
                "folderTrust": {"enabled": False},
            },
            "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
            "privacy": {"usageStatisticsEnabled": False},
            "model": {"maxSessionTurns": self.settings.max_turns},
        }
        path = home / ".gemini" / "settings.json"
        text = json.dumps(settings, indent=2) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return home

    def environment(self) -> dict[str, str]:
        """The system's basics and the CLI's own key and endpoint; no other secret."""
        extra = {"GEMINI_CLI_TRUST_WORKSPACE": "true"}
        key = self.api_key()
        if key:
            register_secret_value(key)
            extra |= {"GEMINI_API_KEY": key, "GEMINI_CLI_HOME": str(self.cli_home())}
        if self.settings.base_url:
            extra["GOOGLE_GEMINI_BASE_URL"] = self.settings.base_url
        return cli_environ(extra)

    # -- calls -----------------------------------------------------------------------------
    def _complete(self, request: ChatRequest) -> ProviderResult:
        cwd = Path(request.working_dir or os.getcwd())
        if not cwd.is_dir():
            raise self._error(f"working directory {cwd} does not exist")
        binary = self.binary()
        if binary is None:
            raise self._error(self.describe_unavailable())
        prompt = flatten_conversation(request.messages)
        if request.system_prompt:
            prompt = f"{request.system_prompt}\n\n{prompt}"
        run = GeminiRun(SpendEstimate(self, BASE_PROMPT_TOKENS, prompt))
        timeout = request.timeout or self.settings.timeout
        stall = self.settings.stall_timeout
        try:
            outcome = run_streaming(
                self.command(binary),
                cwd=cwd,
                env=self.environment(),
                stdin_text=prompt,
                timeout=timeout,
                stall_timeout=stall,
                on_event=run.on_event,
                on_stderr=run.on_stderr,
            )
        except OSError as exc:
            raise self._error(
                f"could not start Gemini CLI {binary}: {exc.strerror or exc}"
            ) from exc
        if outcome.stopped in ("timeout", "stall"):
            why = (
                f"did not finish within {timeout:g} s"
                if outcome.stopped == "timeout"
                else f"stalled: no output for {stall:g} s (`stall_timeout`)"
            )
            retrying = f"; it was retrying: {run.attempt}" if run.attempt else ""
            raise ProviderTimeoutError(
                f"Gemini CLI {why} (process tree killed){retrying}",
                provider=self.name,
                model=self.model,
            )
        if outcome.stopped == "retrying":
            raise classify_cli_message(run.attempt or "", provider=self.name, model=self.model)
        code = outcome.returncode
        if outcome.stopped is None and code != TURN_LIMIT_EXIT and (code or run.status == "error"):
            raise self._failure(run, code, outcome.stderr, outcome.other_output)
        return self._result(run, outcome.stopped, code, outcome.seconds)

    def _result(
        self, run: GeminiRun, stopped: str | None, code: int | None, seconds: float
    ) -> ProviderResult:
        usage = run.usage if run.usage is not None else run.spend.usage
        model = run.model or self.model
        result = ProviderResult(
            content=run.content,
            model=model,
            provider=self.name,
            usage=usage,
            stop_reason="end_turn",
            cost=self.cost_of(usage, model),
            metadata={
                "session_id": run.session_id,
                "actions": run.actions,
                "errors": [redact_text(e) for e in run.errors],
                "duration_ms": int(seconds * 1000),
                "usage_estimated": run.usage is None,
            },
        )
        if stopped == "budget":
            cap = self.settings.max_budget_usd or 0.0
            result.error = f"budget cap reached (max_budget_usd ${cap:.2f}; process tree killed)"
            result.stop_reason, result.metadata["stopped"] = "max_tokens", "budget"
        elif code == TURN_LIMIT_EXIT:  # it worked in the workspace and ran out of turns
            result.error = f"max turns reached ({self.settings.max_turns})"
            result.stop_reason = "max_tokens"
        return result

    def _failure(
        self, run: GeminiRun, code: int | None, stderr: str, other: list[str]
    ) -> ProviderError:
        """The error the run reported, classified; the exit code decides what words do not."""
        message = run.failure or next((e for e in reversed(run.errors) if e), "")
        last_line = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
        message = message or redact_text(last_line)[-TEXT_TAIL:]
        error = classify_cli_message(message, provider=self.name, model=self.model)
        if error.kind is not ErrorKind.UNKNOWN or code not in EXIT_CODES:
            if message:
                return error
            tail = redact_text(stderr.strip() or "\n".join(other))[-TEXT_TAIL:]
            return self._error(
                f"Gemini CLI exited with code {code}" + (f"; output ends: {tail}" if tail else "")
            )
        meaning, kind = EXIT_CODES[code]
        text = f"Gemini CLI: {meaning} (exit code {code})" + (f": {message}" if message else "")
        return make_error(kind, text, provider=self.name, model=self.model)

    def _error(self, message: str) -> UnknownProviderError:
        return UnknownProviderError(message, provider=self.name, model=self.model)
