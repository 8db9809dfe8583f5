"""The agent's settings (the ``agent:`` section of the config file): its limits, the
files it may not read or change, and the sandbox its commands run in.

Defined here, by the layer that uses them; :mod:`coffee_maker.config` puts every layer's
section together into the one file the user writes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


#: Paths whose change would run with the repository's secrets or steer its tooling (CI
#: pipelines, git hooks and attributes): the model may not change them (gitignore syntax).
#: The daemon adds its roadmap file when ``agent.protected_paths`` is not set.
DEFAULT_PROTECTED = [
    ".github/workflows/**",
    ".github/actions/**",
    ".gitlab-ci.yml",
    ".gitlab/**",
    ".circleci/**",
    ".travis.yml",
    "azure-pipelines.yml",
    ".buildkite/**",
    "Jenkinsfile",
    ".drone.yml",
    "bitbucket-pipelines.yml",
    ".githooks/**",
    ".husky/**",
    ".pre-commit-config.yaml",
    ".gitmodules",
    ".gitattributes",
]

DEFAULT_SENSITIVE = [
    ".env*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "credentials*",
    "secrets*",
    "*.p12",
    "*.pfx",
]


class SandboxSettings(_Strict):
    """``agent.sandbox``: where code the model wrote runs. ``none`` runs it as the user."""

    mode: Literal["bwrap", "none"] = "bwrap"
    network: bool = False  # some test suites need it; off, the sandbox has loopback only


class AgentSettings(_Strict):
    max_steps: int = Field(60, gt=0)
    max_repairs: int = Field(2, ge=0)
    max_wall_time: float = Field(3600.0, gt=0)
    stuck_threshold: int = Field(3, ge=2)
    allow_run_command: bool = False
    command_timeout: float = Field(300.0, gt=0)
    test_timeout: float = Field(900.0, gt=0)
    output_limit: int = Field(12000, ge=1000)
    max_format_errors: int = Field(3, ge=0)
    sensitive_files: list[str] = Field(default_factory=lambda: list(DEFAULT_SENSITIVE))
    secret_env: list[str] = Field(default_factory=list)
    #: Replaces the default when set; ``[]`` lets the model change any path.
    protected_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_PROTECTED))
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)

    @field_validator("sandbox", mode="before")
    @classmethod
    def _sandbox_shorthand(cls, value: Any) -> Any:
        """``agent.sandbox: none`` (or ``bwrap``) is short for ``{mode: none}``."""
        return {"mode": value} if isinstance(value, str) else value
