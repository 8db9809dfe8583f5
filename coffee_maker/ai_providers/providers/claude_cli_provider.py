"""Claude Code (the ``claude`` CLI) as an agentic provider: it gets the whole task.

Unlike the API providers, Claude Code runs its own tool loop (read, edit, write files) in
the working directory it is started in, so the agent layer hands it the task and a
workspace and then checks the result by running the tests itself.

It runs unattended: ``-p`` (print mode) with a JSON result, a turn limit, a permission
mode that allows edits, no shell unless ``allow_shell``, no auto-update and no
non-essential traffic. Its own retries are off (``CLAUDE_CODE_MAX_RETRIES=0``): retrying is
FallbackStrategy's job. The child gets an environment without our secrets, plus only the
credential it needs, runs in a process group of its own, and on timeout the whole group
is killed, so no orphaned tool process keeps working in the workspace.

The prompt goes in on stdin, not as an argument: a task can exceed the kernel's limit on
one argument (128 KiB), and a prompt starting with ``-`` would be read as an option.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.base import (
    BaseAIProvider,
    ChatRequest,
    Message,
    ProviderCapability,
    ProviderResult,
    make_usage,
)
from coffee_maker.ai_providers.cli_errors import classify_cli_json
from coffee_maker.ai_providers.errors import ProviderTimeoutError, UnknownProviderError
from coffee_maker.ai_providers.providers.agent_cli import kill_group
from coffee_maker.ai_providers.providers.claude_provider import normalise_stop_reason
from coffee_maker.secrets import redact_text, register_secret_value, scrubbed_environ

#: Subscription logins on headless machines (``claude setup-token``) authenticate with this.
OAUTH_TOKEN_ENV = "CLAUDE_CODE_OAUTH_TOKEN"
UNATTENDED_ENV = {
    "DISABLE_AUTOUPDATER": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_MAX_RETRIES": "0",
}
STDERR_TAIL = 300  # characters of stderr quoted in an error (after redaction)
KILL_GRACE = 5.0  # seconds to collect output after the process group was killed


def flatten_conversation(messages: Sequence[Message]) -> str:
    """One prompt from a conversation: the CLI takes a single prompt, not a message list."""
    if len(messages) == 1 and messages[0].role == "user":
        return messages[0].content
    parts = []
    for message in messages:
        if message.role == "tool":
            status = "error" if message.is_error else "result"
            parts.append(f"[tool {status}: {message.tool_name or message.tool_call_id}]\n")
        else:
            parts.append(f"[{message.role}]\n")
        parts[-1] += message.content
        for call in message.tool_calls:
            parts[-1] += f"\n(called {call.name} {json.dumps(call.arguments)})"
    return "\n\n".join(parts) + "\n\nContinue from the last user message."


class ClaudeCLIProvider(BaseAIProvider):
    """The Claude Code CLI, working in ``working_dir`` by itself (API key or subscription)."""

    provider_type = "claude-cli"
    default_api_key_env = "ANTHROPIC_API_KEY"
    default_capabilities = frozenset({ProviderCapability.TEXT, ProviderCapability.AGENTIC})
    bounded_io = False  # a subprocess: its own timeout kills the whole process group

    def binary(self) -> str | None:
        """The CLI's full path: ``cli_path`` if it is a path, else looked up on PATH."""
        cli_path = self.settings.cli_path or "claude"
        if os.sep in cli_path or (os.altsep and os.altsep in cli_path):
            path = Path(cli_path).expanduser()
            return str(path) if path.is_file() and os.access(path, os.X_OK) else None
        return shutil.which(cli_path)

    def check_available(self) -> bool:
        """The binary is there. A key is optional: the CLI may be logged in to a plan."""
        return self.binary() is not None

    def describe_unavailable(self) -> str:
        return (
            f"Claude Code CLI not found: {self.settings.cli_path or 'claude'} (install it with "
            f"`npm install -g @anthropic-ai/claude-code`, or set providers.{self.name}.cli_path)"
        )

    # -- calls -----------------------------------------------------------------------------
    def _complete(self, request: ChatRequest) -> ProviderResult:
        """Run the CLI on the conversation, in ``working_dir``.

        ``tools``, ``max_tokens`` and ``temperature`` are ignored: Claude Code brings its
        own tools and has no options for the others.
        """
        cwd = Path(request.working_dir or os.getcwd())
        if not cwd.is_dir():
            raise UnknownProviderError(
                f"working directory {cwd} does not exist", provider=self.name, model=self.model
            )
        binary = self.binary()
        if binary is None:
            raise UnknownProviderError(
                self.describe_unavailable(), provider=self.name, model=self.model
            )
        command = self.command(binary, request.system_prompt)
        prompt = flatten_conversation(request.messages)
        timeout = request.timeout or self.settings.timeout
        returncode, stdout, stderr = self._run(command, prompt, cwd, timeout)
        return self._result(returncode, stdout, stderr)

    def command(self, binary: str, system_prompt: str | None = None) -> list[str]:
        """The argument list (the prompt itself is written to stdin)."""
        s = self.settings
        command = [binary, "-p", "--output-format", "json"]
        if self.model:
            command += ["--model", self.model]
        command += ["--max-turns", str(s.max_turns), "--permission-mode", s.permission_mode]
        if system_prompt:
            command += ["--append-system-prompt", system_prompt]
        if s.allowed_tools:  # "=" form: these options are variadic
            command.append("--allowedTools=" + ",".join(s.allowed_tools))
        if not s.allow_shell:
            command.append("--disallowedTools=Bash")
        if s.max_budget_usd:
            command += ["--max-budget-usd", f"{s.max_budget_usd:.2f}"]
        return command

    def worst_case_cost(self, input_tokens: int, output_tokens: int) -> float:
        """A run is many model turns: its cap (``max_budget_usd``) is its worst case."""
        one_turn = super().worst_case_cost(input_tokens, output_tokens)
        return max(one_turn, self.settings.max_budget_usd or 0.0)

    def environment(self) -> dict[str, str]:
        """Our environment without secrets, plus only what the CLI needs to authenticate."""
        env = scrubbed_environ()
        key = self.api_key()
        if key:
            register_secret_value(key)
            env["ANTHROPIC_API_KEY"] = key
        oauth = os.environ.get(OAUTH_TOKEN_ENV)
        if oauth:
            register_secret_value(oauth)
            env[OAUTH_TOKEN_ENV] = oauth
        if self.settings.base_url:
            env["ANTHROPIC_BASE_URL"] = self.settings.base_url
        if self.settings.headers:
            env["ANTHROPIC_CUSTOM_HEADERS"] = "\n".join(
                f"{k}: {v}" for k, v in self.settings.headers.items()
            )
        env.update(UNATTENDED_ENV)
        return env

    def _run(
        self, command: list[str], prompt: str, cwd: Path, timeout: float
    ) -> tuple[int, str, str]:
        """Run in a new process group; on timeout (or any interruption) kill the group."""
        try:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=self.environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
            )
        except OSError as exc:
            raise UnknownProviderError(
                f"could not start Claude Code CLI {command[0]}: {exc.strerror or exc}",
                provider=self.name,
                model=self.model,
            ) from exc
        try:
            stdout, stderr = process.communicate(prompt, timeout=timeout)
            kill_group(process.pid)  # a background process it left behind goes too
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise ProviderTimeoutError(
                f"Claude Code CLI did not finish within {timeout:g} s (process group killed)",
                provider=self.name,
                model=self.model,
            ) from None
        finally:
            if process.poll() is None:  # interrupted (KeyboardInterrupt, shutdown)
                _kill_group(process)
        return process.returncode, stdout, stderr

    def _result(self, returncode: int, stdout: str, stderr: str) -> ProviderResult:
        data = _parse_result(stdout)
        if data is None:
            tail = redact_text(stderr.strip() or stdout.strip())[-STDERR_TAIL:]
            raise UnknownProviderError(
                f"Claude Code CLI exited with code {returncode} without a JSON result"
                + (f"; output ends: {tail}" if tail else ""),
                provider=self.name,
                model=self.model,
            )
        error = classify_cli_json(data, provider=self.name, model=self.model)
        if error is not None:
            raise error
        model, usage = _model_and_usage(data, self.model)
        cost = data.get("total_cost_usd")
        result = ProviderResult(
            content=str(data.get("result") or ""),
            model=model,
            provider=self.name,
            usage=usage,
            stop_reason=normalise_stop_reason(data.get("stop_reason")),
            cost=float(cost) if isinstance(cost, int | float) else self.cost_of(usage, model),
            metadata={
                "raw_stop_reason": data.get("stop_reason"),
                "session_id": data.get("session_id"),
                "num_turns": data.get("num_turns"),
                "terminal_reason": data.get("terminal_reason"),
                "permission_denials": data.get("permission_denials") or [],
                "duration_ms": data.get("duration_ms"),
            },
        )
        if data.get("subtype") == "error_max_turns":
            # Not a provider failure: the agent worked in the workspace and ran out of turns.
            result.error = f"max turns reached ({self.settings.max_turns})"
            result.stop_reason = "max_tokens"
        return result


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.communicate(timeout=KILL_GRACE)
    except subprocess.TimeoutExpired:  # a descendant escaped the group and holds the pipes
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        process.wait(timeout=KILL_GRACE)


def _parse_result(stdout: str) -> dict[str, Any] | None:
    """The ``type: result`` object: the whole output, else its last JSON line."""
    candidates = [stdout.strip(), *reversed(stdout.strip().splitlines())]
    for text in candidates:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("type") == "result":
            return data
    return None


def _model_and_usage(data: Mapping[str, Any], default_model: str) -> tuple[str, dict[str, int]]:
    """The model that did most of the work, and usage summed over every model used.

    ``modelUsage`` also counts small side models (titles, summaries), which
    ``total_cost_usd`` includes; the top-level ``usage`` is the fallback.
    """
    per_model = data.get("modelUsage")
    if isinstance(per_model, Mapping) and per_model:
        model = max(per_model, key=lambda m: per_model[m].get("outputTokens", 0) or 0)
        usage = make_usage()
        for counts in per_model.values():
            usage["input_tokens"] += int(counts.get("inputTokens", 0) or 0)
            usage["output_tokens"] += int(counts.get("outputTokens", 0) or 0)
            usage["cache_read_tokens"] += int(counts.get("cacheReadInputTokens", 0) or 0)
            usage["cache_write_tokens"] += int(counts.get("cacheCreationInputTokens", 0) or 0)
        return str(model), usage
    raw = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    usage = make_usage(
        raw.get("input_tokens", 0),
        raw.get("output_tokens", 0),
        raw.get("cache_read_input_tokens", 0),
        raw.get("cache_creation_input_tokens", 0),
    )
    return default_model, usage
