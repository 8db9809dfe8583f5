"""``project-manager setup``: from nothing to a working configuration in a minute.

The wizard writes two files. The config YAML (a copy of the documented example, or of the
user's own file with ``--reconfigure``, edited with ruamel so its comments stay) names each
key's environment variable only. The keys go to the EnvironmentFile, mode 0600 from its
first byte, which the systemd unit and both CLIs read. Every provider is checked on the
spot through its free model-listing API; a failure is reported, not fatal, because the
user may be setting up a machine that is not online yet.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coffee_maker.ai_providers.atomic_files import atomic_write
from coffee_maker.cli.common import EXIT_OK, UsageError
from coffee_maker.cli.prompts import Prompter

if TYPE_CHECKING:
    from coffee_maker.config import AppConfig

CONFIG_NAME = "ai_providers.yaml"
CHECK_TIMEOUT = 10.0
COMPATIBLE = "compatible"
#: What the menu offers, in the order shown; ``compatible`` adds an OpenAI-compatible vendor.
KINDS = {
    "claude": "Anthropic API",
    "claude-cli": "Claude Code CLI (your Claude subscription; needs the `claude` program)",
    "codex": "OpenAI Codex CLI (your ChatGPT plan; needs the `codex` program)",
    "gemini-cli": "Google Gemini CLI (your Google login; needs the `gemini` program)",
    "openai": "OpenAI API",
    "gemini": "Google Gemini API",
    "ollama": "local models through Ollama: free and private",
    COMPATIBLE: "another OpenAI-compatible vendor (Fireworks, Groq, OpenRouter, vLLM, ...)",
}
AGENT_CLIS = {"claude-cli", "codex-cli", "gemini-cli"}
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Choice:
    """One provider as answered: the YAML keys to set, and a key to store (if any)."""

    name: str
    settings: dict[str, Any]
    key_env: str | None = None
    key: str | None = None


@dataclass
class Answers:
    choices: list[Choice] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    daily_limit: float | None = None
    per_task_limit: float | None = None


def default_config_path() -> Path:
    from coffee_maker.paths import user_config_dir

    return user_config_dir() / CONFIG_NAME


def _url_problem(value: str) -> str | None:
    return None if re.match(r"https?://\S+$", value) else "expected a URL like https://host/v1"


def _required(value: str) -> str | None:
    return None if value else "an answer is needed"


def _budget_problem(value: str) -> str | None:
    if value.lower() == "none":
        return None
    try:
        return None if float(value) >= 0 else "must not be negative"
    except ValueError:
        return "expected an amount in US dollars, or none"


def _budget(value: str) -> float | None:
    return None if value.lower() == "none" else float(value)


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


class Wizard:
    """The interview. ``base`` is the parsed document the answers will be written into."""

    def __init__(self, prompter: Prompter, base: dict[str, Any], user_file: bool) -> None:
        from coffee_maker.ai_providers.env_file import default_env_file, read_env_file

        self.prompt = prompter
        self.base = base
        self.user_file = user_file
        self.env_path = default_env_file()
        self.stored = read_env_file(self.env_path)

    @property
    def base_providers(self) -> dict[str, Any]:
        providers = self.base.get("providers")
        return providers if isinstance(providers, dict) else {}

    # -- which providers ------------------------------------------------------------------
    def options(self) -> list[str]:
        own = [n for n in self.base_providers if n not in KINDS] if self.user_file else []
        return [*list(KINDS)[:-1], *own, COMPATIBLE]

    def choose(self) -> list[str]:
        options = self.options()
        self.prompt.say("Which providers should coffee-maker use?")
        for i, name in enumerate(options, 1):
            self.prompt.say(f"  {i}. {name:<12} {KINDS.get(name, 'from your current config')}")
        enabled = [
            n
            for n, s in self.base_providers.items()
            if isinstance(s, dict) and s.get("enabled", True)
        ]
        default = ", ".join(enabled) if self.user_file and enabled else "claude"
        answer = self.prompt.ask(
            "Providers, most preferred first (names or numbers, comma-separated)",
            default,
            lambda text: self._selection(text, options)[1],
        )
        return self._selection(answer, options)[0]

    @staticmethod
    def _selection(text: str, options: list[str]) -> tuple[list[str], str | None]:
        picked: list[str] = []
        for token in (t.strip() for t in text.split(",")):
            name = (
                options[int(token) - 1]
                if token.isdigit() and 0 < int(token) <= len(options)
                else token
            )
            if name not in options:
                return [], f"{token!r} is not one of: {', '.join(options)}"
            if name in picked and name != COMPATIBLE:
                return [], f"{name} is listed twice"
            picked.append(name)
        return picked, None if picked else "choose at least one provider"

    # -- each provider --------------------------------------------------------------------
    def configure(self, option: str, taken: set[str]) -> Choice:
        if option == COMPATIBLE:
            return self._compatible(taken)
        from coffee_maker.ai_providers.provider_factory import provider_class

        entry = self.base_providers.get(option) or self._example_entry(option)
        kind = entry.get("type", option)
        settings: dict[str, Any] = {"enabled": True}
        settings["model"] = self.prompt.ask(f"{option}: model", entry.get("model"), _required)
        if kind == "ollama":
            host = entry.get("host") or "http://localhost:11434"
            settings["host"] = self.prompt.ask(f"{option}: Ollama host", host, _url_problem)
        if kind in AGENT_CLIS:  # a plan's login by default; a key stays optional
            return Choice(option, settings)
        key_env = entry.get("api_key_env") or provider_class(kind).default_api_key_env
        if not key_env:
            return Choice(option, settings)
        settings["api_key_env"] = key_env
        return Choice(option, settings, key_env, self.ask_key(key_env))

    def _example_entry(self, name: str) -> dict[str, Any]:
        from coffee_maker.cli.setup_config import example_data

        entry = (example_data().get("providers") or {}).get(name)
        return dict(entry) if isinstance(entry, dict) else {}

    def _compatible(self, taken: set[str]) -> Choice:
        def name_problem(name: str) -> str | None:
            if not _NAME_RE.fullmatch(name):
                return "use lowercase letters, digits, - and _ (e.g. fireworks)"
            return f"{name} is already used" if name in taken else None

        name = self.prompt.ask("Name for this vendor (e.g. fireworks, groq)", None, name_problem)
        settings: dict[str, Any] = {"type": "openai", "enabled": True}
        settings["base_url"] = self.prompt.ask(f"{name}: base URL", None, _url_problem)
        settings["model"] = self.prompt.ask(f"{name}: model", None, _required)
        key_env = self.prompt.ask(
            f"{name}: environment variable for its API key",
            re.sub(r"\W", "_", name).upper() + "_API_KEY",
            lambda v: None if _ENV_RE.fullmatch(v) else "not a valid variable name",
        )
        settings["api_key_env"] = key_env
        return Choice(name, settings, key_env, self.ask_key(key_env))

    def ask_key(self, env: str) -> str | None:
        """A key to store: typed, or the one in this shell's environment; None: unchanged."""
        from coffee_maker.ai_providers.env_file import value_problem
        from coffee_maker.secrets import register_secret_value

        inherited = os.environ.get(env) if env not in self.stored else None
        if env in self.stored:
            hint = f"Enter keeps the one in {self.env_path}"
        elif inherited:
            hint = "Enter stores the one set in your environment"
        else:
            hint = "Enter to skip and add it later"
        key = self.prompt.secret(f"{env} (input hidden; {hint})", value_problem) or inherited
        register_secret_value(key)
        return key or None

    def ask_github_token(self, env: str) -> str | None:
        """The token the daemon opens pull requests with (kept in the env file, like keys)."""
        self.prompt.say(
            "code-developer pushes branches with your git credentials and opens pull requests "
            "with a GitHub token (fine-grained: Pull requests read and write)."
        )
        return self.ask_key(env)

    # -- order and budgets ----------------------------------------------------------------
    def order(self, names: list[str]) -> list[str]:
        def problem(text: str) -> str | None:
            chosen = [t.strip() for t in text.split(",") if t.strip()]
            unknown = [n for n in chosen if n not in names]
            if unknown:
                return f"not chosen above: {', '.join(unknown)} (choose from {', '.join(names)})"
            return None if chosen else "name at least one provider"

        answer = self.prompt.ask(
            "Fallback order, the first is the default provider", ", ".join(names), problem
        )
        return list(dict.fromkeys(t.strip() for t in answer.split(",") if t.strip()))

    def budgets(self) -> tuple[float | None, float | None]:
        costs = self.base.get("cost_controls") or {}
        daily = self.prompt.ask(
            "Daily budget in USD (none = no limit)",
            _shown(costs.get("daily_limit", 50.0)),
            _budget_problem,
        )
        task = self.prompt.ask(
            "Budget per task in USD (none = no limit)",
            _shown(costs.get("per_task_limit", 5.0)),
            _budget_problem,
        )
        return _budget(daily), _budget(task)

    # -- checking ---------------------------------------------------------------------------
    def check(self, config: AppConfig, answers: Answers) -> None:
        """Reach each provider now, with the keys just given; report, never stop."""
        from coffee_maker.ai_providers.probe import probe_all, with_timeout
        from coffee_maker.ai_providers.provider_factory import ProviderFactory
        from coffee_maker.cli.models_command import is_listed

        for choice in answers.choices:
            if choice.key_env and choice.key:
                os.environ[choice.key_env] = choice.key  # this process only, for the check
        factory = ProviderFactory(config=with_timeout(config, CHECK_TIMEOUT))
        providers = [factory.create(c.name) for c in answers.choices]
        ready = [p for p in providers if p.check_available()]
        self.prompt.say("Checking each provider...")
        found = probe_all(ready, CHECK_TIMEOUT)
        for provider in providers:
            if provider not in ready:
                self.prompt.say(f"  {provider.name}: not ready: {provider.describe_unavailable()}")
                continue
            result = found[provider.name]
            if result.outcome == "error":
                line = f"NOT reachable: {result.error_kind}: {result.detail} (saved anyway)"
            elif result.outcome == "ok" and not is_listed(provider.model, set(result.models)):
                line = f"reachable, but it does not list the model {provider.model!r}"
            else:
                line = f"ready ({result.detail})"
            self.prompt.say(f"  {provider.name}: {line}")


def run(args: argparse.Namespace) -> int:
    """The whole interview, then the env file and the config, then what to do next."""
    from ruamel.yaml import YAML

    from coffee_maker.ai_providers.env_file import update_env_file
    from coffee_maker.cli.setup_config import base_document, render_config, validate

    target = Path(args.config).expanduser() if args.config else default_config_path()
    if target.exists() and not args.reconfigure:
        raise UsageError(
            f"{target} already exists; run `project-manager setup --reconfigure` to change it"
        )
    base_text, user_file = base_document(target if args.reconfigure else None)
    prompter = Prompter()
    wizard = Wizard(prompter, YAML(typ="safe").load(base_text) or {}, user_file)
    answers = Answers()
    selected = wizard.choose()
    reserved = {option for option in selected if option != COMPATIBLE}
    for option in selected:
        taken = reserved | {c.name for c in answers.choices}
        answers.choices.append(wizard.configure(option, taken))
    names = [c.name for c in answers.choices]
    answers.order = names
    wizard.check(validate(render_config(base_text, user_file, answers), target), answers)
    answers.order = wizard.order(names)
    answers.daily_limit, answers.per_task_limit = wizard.budgets()
    text = render_config(base_text, user_file, answers)
    config = validate(text, target)
    keys = {c.key_env: c.key for c in answers.choices if c.key_env and c.key}
    github_token = wizard.ask_github_token(config.github.token_env)
    if github_token:
        keys[config.github.token_env] = github_token
    keys = {k: v for k, v in keys.items() if wizard.stored.get(k) != v}
    if keys:
        update_env_file(wizard.env_path, keys)
    _write_config(target, text)
    _next_steps(prompter, target, args.config, wizard.env_path, sorted(keys))
    return EXIT_OK


def _write_config(path: Path, text: str) -> None:
    """Atomic: a crash leaves the old config or the new one. No secret inside: 0644."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"), mode=0o644)


def _next_steps(
    prompter: Prompter, config: Path, flag: str | None, env: Path, stored: list[str]
) -> None:
    with_config = f" --config {config}" if flag else ""
    prompter.say()
    prompter.say(f"Wrote {config} (no keys in it).")
    if stored:
        prompter.say(f"Stored {', '.join(stored)} in {env} (mode 0600).")
    shadow = _shadowing_config(config)
    if shadow and not flag:
        prompter.say(f"Note: {shadow} is found first from this directory, so it wins over it.")
    prompter.say("Next:")
    prompter.say(f"  project-manager provider status{with_config}   # each provider, checked")
    prompter.say(f"  code-developer --dry-run{with_config}           # what the daemon would do")
    prompter.say("  code-developer install-service     # run it as a systemd service")
    if flag:
        prompter.say(
            f"  (the service finds its config by the usual lookup; to use this file, add "
            f"CODE_DEVELOPER_CONFIG={config} to {env})"
        )


def _shadowing_config(written: Path) -> Path | None:
    """Another config that the lookup order finds before the one just written, if any."""
    from coffee_maker.ai_providers.provider_config import ConfigError, find_config

    try:
        found = find_config(None, ".")
    except ConfigError:
        return None
    return found if found and found.resolve() != written.resolve() else None
