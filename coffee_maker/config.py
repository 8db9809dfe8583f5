"""The whole configuration file, assembled from the sections each layer owns.

- ``default_provider``, ``providers``, ``fallback``, ``cost_controls``: the providers'
  layer (``ai_providers/provider_config.py``, which also finds, reads and checks the file);
- ``agent``: the agent (``agent/settings.py``);
- ``daemon``, ``github``: the daemon (``autonomous/settings.py``);
- ``orchestrator``: the fleet on Temporal (``fleet/settings.py``), absent by default.

This module only puts them together: it imports those settings modules and nothing else
of the package, and every layer may import it. ``load_config`` and ``parse_config``
(``provider_config.py``) validate a file against :class:`AppConfig`, whoever reads it.
"""

from __future__ import annotations

from pydantic import Field

from coffee_maker.agent.settings import AgentSettings
from coffee_maker.ai_providers.provider_config import ProvidersConfig
from coffee_maker.autonomous.settings import DaemonSettings, GitHubSettings
from coffee_maker.fleet.settings import OrchestratorSettings

__all__ = ["AppConfig"]


class AppConfig(ProvidersConfig):
    """Every section of the file (README, "Configuration"; config/ai_providers.yaml)."""

    agent: AgentSettings = Field(default_factory=AgentSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    orchestrator: OrchestratorSettings | None = None  # None: the single-machine daemon
