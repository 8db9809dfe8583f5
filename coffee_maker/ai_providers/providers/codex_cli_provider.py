"""OpenAI's Codex CLI (``codex exec``) as an agentic provider: it gets the whole task.

Like Claude Code, Codex runs its own tool loop (shell commands, patches) in the worktree,
and the harness verifies the result. It runs as
``codex exec --json -s workspace-write -C WORKTREE -m MODEL -`` with the prompt on stdin,
approvals off and its commands in its own sandbox (``sandbox``; ``danger-full-access``
only when the config says so). A custom endpoint (``base_url``: a gateway, a test fake)
becomes a model provider of its own, defined with ``-c model_providers.coffee_maker=...``
(Codex ignores ``OPENAI_BASE_URL``), streaming the Responses API, with Codex's own
retries off: retrying is FallbackStrategy's job.

Its JSONL events (``thread.started``, ``turn.started``, ``item.*`` with ``agent_message``,
``command_execution``, ``file_change``, ``error`` items, ``turn.completed`` with usage,
``turn.failed``, ``error``) become the result: the last agent message is the content,
the usage (cached input included) is priced from the price table, and what Codex did
(commands, changed files) goes into ``metadata["actions"]`` for the run's transcript.

Codex has no turn or dollar cap of its own, so both are enforced from outside
(``agent_cli.run_streaming``): the wall time (``timeout``), a stream with no event for
``stall_timeout`` seconds, and ``max_budget_usd`` against an estimate of the spend that
grows with every tool round (the exact usage only arrives at the end of the turn). A
stopped run's whole process tree is killed and the reason recorded.

Codex keeps its login and state in ``CODEX_HOME`` (``codex_home``, else ``$CODEX_HOME``,
else ``~/.codex``). It must not lie in the temporary directory: Codex then refuses to
install its sandbox helper and every sandboxed command fails.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coffee_maker.ai_providers.base import (
    BaseAIProvider,
    ChatRequest,
    ProviderCapability,
    ProviderResult,
    add_usage,
    make_usage,
)
from coffee_maker.ai_providers.cli_errors import classify_cli_message
from coffee_maker.ai_providers.errors import ProviderTimeoutError, UnknownProviderError
from coffee_maker.ai_providers.providers.agent_cli import (
    SpendEstimate,
    cli_environ,
    find_binary,
    run_streaming,
    under_temp_dir,
)
from coffee_maker.ai_providers.providers.claude_cli_provider import flatten_conversation
from coffee_maker.secrets import redact_text, register_secret_value

#: The model provider Codex is given for a custom ``base_url``.
PROVIDER_ID = "coffee_maker"
#: The variable Codex reads the API key from (``codex exec`` and our model provider).
KEY_ENV = "CODEX_API_KEY"
#: Codex's own instructions and tool definitions, in tokens, sent with every request.
BASE_PROMPT_TOKENS = 10_000
#: Empty directories Codex's sandbox creates in the worktree to mount over; removed after.
MOUNT_POINTS = (".codex", ".agents", ".aws", ".git")
OUTPUT_TAIL = 600  # characters of a command's output kept in the actions record
TEXT_TAIL = 300  # characters of stderr or odd output quoted in an error


@dataclass
class CodexRun:
    """What the events of one ``codex exec`` said, folded as they arrive."""

    spend: SpendEstimate
    thread_id: str | None = None
    turns: int = 0
    messages: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] | None = None  # the exact usage of completed turns
    failure: str | None = None  # turn.failed's message
    errors: list[str] = field(default_factory=list)  # error events and error items

    def on_event(self, event: dict[str, Any]) -> str | None:
        """Fold one event in; ``"budget"`` when the spend passed ``max_budget_usd``."""
        kind = event.get("type")
        if kind == "thread.started":
            self.thread_id = str(event.get("thread_id") or "") or None
        elif kind == "turn.started":
            self.turns += 1
        elif kind == "turn.completed":
            usage = _usage(event.get("usage"))
            self.usage = usage if self.usage is None else add_usage(self.usage, usage)
        elif kind == "turn.failed":
            error = event.get("error")
            message = error.get("message") if isinstance(error, Mapping) else error
            self.failure = str(message or "turn failed")
        elif kind == "error":
            self.errors.append(str(event.get("message") or ""))
        elif kind == "item.completed" and isinstance(event.get("item"), Mapping):
            self._item(event["item"])
        return "budget" if self.spend.over(self.usage) else None

    def _item(self, item: Mapping[str, Any]) -> None:
        kind = item.get("type")
        if kind == "agent_message":
            self.messages.append(str(item.get("text") or ""))
            return
        if kind == "error":
            self.errors.append(str(item.get("message") or ""))
            return
        if kind == "command_execution":
            output = str(item.get("aggregated_output") or "")
            action = {
                "type": "command",
                "command": str(item.get("command") or ""),
                "exit_code": item.get("exit_code"),
                "output": output[-OUTPUT_TAIL:],
            }
            new_text = action["command"] + output
        elif kind == "file_change":
            changes = [
                {"path": str(c.get("path")), "kind": str(c.get("kind"))}
                for c in item.get("changes") or []
                if isinstance(c, Mapping)
            ]
            action = {"type": "file_change", "changes": changes, "status": item.get("status")}
            new_text = json.dumps(changes)
        elif kind in ("mcp_tool_call", "web_search"):
            action = {"type": str(kind), **{k: item.get(k) for k in ("server", "tool", "query")}}
            new_text = json.dumps(action)
        else:
            return  # reasoning, todo lists: nothing the record needs
        self.actions.append(action)
        self.spend.round(new_text)


def _usage(raw: Any) -> dict[str, int]:
    """Codex's usage (``input_tokens`` includes ``cached_input_tokens``) in ours."""
    raw = raw if isinstance(raw, Mapping) else {}
    cached = int(raw.get("cached_input_tokens") or 0)
    return make_usage(
        int(raw.get("input_tokens") or 0) - cached,
        raw.get("output_tokens"),
        cached,
        raw.get("cache_write_input_tokens"),
    )


class CodexCLIProvider(BaseAIProvider):
    """The Codex CLI, working in ``working_dir`` by itself (API key or ChatGPT plan)."""

    provider_type = "codex-cli"
    default_api_key_env = "OPENAI_API_KEY"
    default_capabilities = frozenset({ProviderCapability.TEXT, ProviderCapability.AGENTIC})
    bounded_io = False  # a subprocess: stopped from outside, its whole tree killed

    def binary(self) -> str | None:
        return find_binary(self.settings.cli_path or "codex")

    def codex_home(self) -> Path:
        """Where Codex keeps its login and state."""
        configured = self.settings.codex_home or os.environ.get("CODEX_HOME")
        return Path(configured or "~/.codex").expanduser()

    def check_available(self) -> bool:
        """The binary is there and its home usable. A key is optional (a ChatGPT login)."""
        return self.binary() is not None and not under_temp_dir(self.codex_home())

    def describe_unavailable(self) -> str:
        if self.binary() is None:
            return (
                f"Codex CLI not found: {self.settings.cli_path or 'codex'} (install it with "
                f"`npm install -g @openai/codex`, or set providers.{self.name}.cli_path)"
            )
        return (
            f"providers.{self.name}.codex_home: {self.codex_home()} is in the temporary "
            "directory, where Codex refuses to install its sandbox helper; use a lasting one"
        )

    def worst_case_cost(self, input_tokens: int, output_tokens: int) -> float:
        """A run is many model requests: its cap (``max_budget_usd``) is its worst case."""
        one_request = super().worst_case_cost(input_tokens, output_tokens)
        return max(one_request, self.settings.max_budget_usd or 0.0)

    # -- the command -------------------------------------------------------------------------
    def command(self, binary: str, cwd: Path) -> list[str]:
        """The argument list; the prompt goes to stdin (``-``)."""
        s = self.settings
        command = [binary, "exec", "--json", "--color", "never", "--skip-git-repo-check"]
        command += ["--sandbox", s.sandbox, "--cd", str(cwd)]
        command += ["-c", 'approval_policy="never"']
        if self.model:
            command += ["--model", self.model]
        if s.base_url:
            provider = {
                "name": PROVIDER_ID,
                "base_url": s.base_url,
                "env_key": KEY_ENV,
                "wire_api": "responses",
                "request_max_retries": 0,
                "stream_max_retries": 0,
            }
            if s.headers:
                provider["http_headers"] = dict(s.headers)
            command += ["-c", f"model_providers.{PROVIDER_ID}={_toml(provider)}"]
            command += ["-c", f'model_provider="{PROVIDER_ID}"']
        return [*command, "-"]

    def environment(self) -> dict[str, str]:
        """The system's basics, Codex's home and its own key; no other secret."""
        extra = {"CODEX_HOME": str(self.codex_home())}
        key = self.api_key()
        if key:
            register_secret_value(key)
            extra[KEY_ENV] = key
        return cli_environ(extra)

    # -- calls -----------------------------------------------------------------------------
    def _complete(self, request: ChatRequest) -> ProviderResult:
        """Run Codex on the conversation, in ``working_dir``; tools and sampling options are
        ignored (Codex brings its own tools)."""
        cwd = Path(request.working_dir or os.getcwd())
        if not cwd.is_dir():
            raise self._error(f"working directory {cwd} does not exist")
        binary = self.binary()
        if binary is None or not self.check_available():
            raise self._error(self.describe_unavailable())
        self.codex_home().mkdir(parents=True, exist_ok=True)
        prompt = flatten_conversation(request.messages)
        if request.system_prompt:
            prompt = f"{request.system_prompt}\n\n{prompt}"
        run = CodexRun(SpendEstimate(self, BASE_PROMPT_TOKENS, prompt))
        timeout = request.timeout or self.settings.timeout
        stall = self.settings.stall_timeout
        existing = {name for name in MOUNT_POINTS if os.path.lexists(cwd / name)}
        try:
            outcome = run_streaming(
                self.command(binary, cwd),
                cwd=cwd,
                env=self.environment(),
                stdin_text=prompt,
                timeout=timeout,
                stall_timeout=stall,
                on_event=run.on_event,
            )
        except OSError as exc:
            raise self._error(f"could not start Codex CLI {binary}: {exc.strerror or exc}") from exc
        finally:
            _remove_mount_points(cwd, existing)
        if outcome.stopped == "timeout":
            raise ProviderTimeoutError(
                f"Codex CLI did not finish within {timeout:g} s (process tree killed)",
                provider=self.name,
                model=self.model,
            )
        if outcome.stopped == "stall":
            raise ProviderTimeoutError(
                f"Codex CLI stalled: no event for {stall:g} s (`stall_timeout`; process tree "
                "killed)",
                provider=self.name,
                model=self.model,
            )
        if outcome.stopped is None and (run.failure or outcome.returncode):
            raise self._failure(run, outcome.returncode, outcome.stderr, outcome.other_output)
        return self._result(run, outcome.stopped, outcome.seconds)

    def _result(self, run: CodexRun, stopped: str | None, seconds: float) -> ProviderResult:
        usage = run.usage if run.usage is not None else run.spend.usage
        estimated = run.usage is None
        result = ProviderResult(
            content=run.messages[-1] if run.messages else "",
            model=self.model,
            provider=self.name,
            usage=usage,
            stop_reason="end_turn",
            cost=self.cost_of(usage),
            metadata={
                "thread_id": run.thread_id,
                "num_turns": run.turns,
                "actions": run.actions,
                "messages": run.messages[:-1],
                "errors": [redact_text(e) for e in run.errors],
                "duration_ms": int(seconds * 1000),
                "usage_estimated": estimated,
            },
        )
        if stopped == "budget":
            # Not a provider failure: Codex worked in the workspace and reached its cap.
            cap = self.settings.max_budget_usd or 0.0
            result.error = f"budget cap reached (max_budget_usd ${cap:.2f}; process tree killed)"
            result.stop_reason = "max_tokens"
            result.metadata["stopped"] = "budget"
        return result

    def _failure(
        self, run: CodexRun, returncode: int | None, stderr: str, other: list[str]
    ) -> Exception:
        """The error a failed run reported, classified (quota, auth, rate limit, ...)."""
        message = run.failure or next((e for e in reversed(run.errors) if e), None)
        if message:
            return classify_cli_message(message, provider=self.name, model=self.model)
        tail = redact_text(stderr.strip() or "\n".join(other))[-TEXT_TAIL:]
        return self._error(
            f"Codex CLI exited with code {returncode}" + (f"; output ends: {tail}" if tail else "")
        )

    def _error(self, message: str) -> UnknownProviderError:
        return UnknownProviderError(message, provider=self.name, model=self.model)


def _remove_mount_points(cwd: Path, existing: set[str]) -> None:
    """Remove the empty directories the sandbox left in the worktree (not any it found)."""
    for name in MOUNT_POINTS:
        path = cwd / name
        if name not in existing and path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):  # not empty: the model put something there
                path.rmdir()


def _toml(value: Mapping[str, Any]) -> str:
    """An inline TOML table (JSON strings are valid TOML basic strings)."""
    parts = []
    for key, item in value.items():
        text = _toml(item) if isinstance(item, Mapping) else json.dumps(item)
        parts.append(f'"{key}"={text}' if not key.isidentifier() else f"{key}={text}")
    return "{" + ",".join(parts) + "}"
