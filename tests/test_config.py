"""The config file: schema, lookup order, ${VAR}, env overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from coffee_maker.ai_providers.provider_config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "ai_providers.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ai_providers.yaml"
    path.write_text(text)
    return path


def test_documented_example_loads_with_every_section():
    config = load_config(EXAMPLE)
    assert config.default_provider == "claude"
    assert config.providers["fireworks"].type == "openai"
    assert config.providers["claude"].models == ["claude-sonnet-4-6", "claude-haiku-4-5"]
    assert config.cost_controls.per_task_limit == 5.0
    assert config.daemon.branch_prefix == "coffee-maker/"
    assert config.github.token_env == "GITHUB_TOKEN"
    # default first, then fallback_order; disabled providers are left out
    assert config.provider_order() == ["claude", "openai", "gemini", "ollama", "claude-cli"]
    assert config.provider_order("ollama")[0] == "ollama"


def test_type_defaults_to_the_provider_key(tmp_path):
    config = load_config(write(tmp_path, "providers:\n  openai:\n    model: gpt-5.4-mini\n"))
    assert config.providers["openai"].type == "openai"
    assert config.default_provider == "openai"


def test_env_var_expansion_and_default(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_PROXY", "http://proxy.local/v1")
    config = load_config(
        write(
            tmp_path,
            (
                "providers:\n  openai:\n    base_url: ${MY_PROXY}\n"
                "    model: ${MODEL_NAME:-gpt-5.4-mini}\n"
            ),
        )
    )
    assert config.providers["openai"].base_url == "http://proxy.local/v1"
    assert config.providers["openai"].model == "gpt-5.4-mini"


def test_unset_env_var_names_the_key(tmp_path):
    path = write(tmp_path, "providers:\n  openai:\n    base_url: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(
        ConfigError,
        match=r"providers\.openai\.base_url: environment variable "
        r"NOT_SET_ANYWHERE is not set",
    ):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("providers:\n  claude:\n    max_tokens: -5\n", r"providers\.claude\.max_tokens"),
        ("providers:\n  claude:\n    modle: x\n", r"providers\.claude\.modle: unknown key"),
        ("cost_controls:\n  daily_limit: lots\n", r"cost_controls\.daily_limit"),
        ("default_provider: nope\nproviders:\n  claude: {}\n", r"default_provider: 'nope'"),
        (
            "providers:\n  claude: {}\nfallback:\n  fallback_order: [claude, gpt]\n",
            r"fallback\.fallback_order\[1\]: 'gpt'",
        ),
        ("github:\n  repo: not-a-repo\n", r"github\.repo: .*owner/name"),
        ("providers: [claude]\n", r"providers: expected a mapping"),
        ("- just\n- a list\n", "expected a mapping at the top level"),
    ],
)
def test_mistakes_name_the_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_yaml_gives_the_line(tmp_path):
    path = write(tmp_path, "providers:\n  claude:\n    model: [unclosed\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+"):
        load_config(path)


def test_missing_config_path_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"--config .*no such file"):
        load_config(tmp_path / "absent.yaml")


def test_lookup_order(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "ai_providers.yaml").write_text("providers:\n  ollama: {}\n")
    user = tmp_path / "xdg" / "coffee-maker"
    user.mkdir(parents=True)
    (user / "ai_providers.yaml").write_text("providers:\n  gemini: {}\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    explicit = write(tmp_path, "providers:\n  openai: {}\n")

    assert load_config(repo=repo).default_provider == "ollama"
    assert load_config(repo=tmp_path / "elsewhere").default_provider == "gemini"
    monkeypatch.setenv("CODE_DEVELOPER_CONFIG", str(explicit))
    assert load_config(repo=repo).default_provider == "openai"
    assert load_config(repo / "config" / "ai_providers.yaml").default_provider == "ollama"


def test_builtin_defaults_when_no_file(tmp_path):
    config = load_config(repo=tmp_path)
    assert config.source is None
    assert "claude" in config.providers


def test_env_overrides(tmp_path, monkeypatch):
    path = write(tmp_path, "providers:\n  claude: {}\n  openai: {}\n")
    monkeypatch.setenv("DEFAULT_AI_PROVIDER", "openai")
    monkeypatch.setenv("AI_PROVIDER_FALLBACK", "false")
    monkeypatch.setenv("AI_COST_DAILY_LIMIT", "2.5")
    monkeypatch.setenv("AI_COST_PER_TASK_LIMIT", "0.25")
    config = load_config(path)
    assert config.default_provider == "openai"
    assert config.fallback.enabled is False
    assert config.cost_controls.daily_limit == 2.5
    assert config.cost_controls.per_task_limit == 0.25


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("AI_PROVIDER_FALLBACK", "maybe", "AI_PROVIDER_FALLBACK='maybe': expected true or false"),
        ("AI_COST_DAILY_LIMIT", "ten", "AI_COST_DAILY_LIMIT='ten': expected a number"),
        ("DEFAULT_AI_PROVIDER", "nope", "default_provider: 'nope' is not a configured"),
    ],
)
def test_bad_env_overrides_are_named(tmp_path, monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, "providers:\n  claude: {}\n"))


def test_parse_config_from_data():
    config = parse_config(
        {"providers": {"mine": {"type": "openai", "base_url": "http://x/v1"}}}, "test"
    )
    assert config.providers["mine"].name == "mine"
    assert config.providers["mine"].type == "openai"


def test_the_python_api_reads_the_env_file_as_the_command_line_does(tmp_path):
    """``ProviderFactory(config_path=...)`` and ``project-manager`` see the same config: the
    env file's keys fill ``${VAR}``, the overrides and each provider's key check."""
    from coffee_maker.ai_providers import env_file
    from coffee_maker.ai_providers.provider_factory import ProviderFactory
    from coffee_maker.cli.common import load_app_config

    env_file.update_env_file(
        env_file.default_env_file(),
        {"ACME_API_KEY": "sk-acme-" + "a" * 24, "ACME_URL": "http://acme.test/v1",
         "AI_COST_DAILY_LIMIT": "7"},
    )  # fmt: skip
    path = write(
        tmp_path,
        "providers:\n  acme:\n    type: openai\n    model: m\n    base_url: ${ACME_URL}\n"
        "    api_key_env: ACME_API_KEY\n",
    )
    factory = ProviderFactory(config_path=path)
    from_cli = load_app_config(str(path))
    assert factory.config.model_dump() == from_cli.model_dump()
    assert factory.config.providers["acme"].base_url == "http://acme.test/v1"
    assert factory.config.cost_controls.daily_limit == 7.0
    assert factory.get_provider("acme").check_available()  # the key came from the file
    assert env_file.from_env_file("ACME_API_KEY")
