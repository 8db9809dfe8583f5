"""The agent layer: a task, a workspace and a model in; a verified change out.

It imports only ``coffee_maker.ai_providers`` and ``coffee_maker.secrets``: it knows
nothing of git, roadmaps or pull requests.
"""

from coffee_maker.agent.commands import CommandResult
from coffee_maker.agent.loop import Agent, Interrupted, LimitReached, ProviderGaveUp, Stuck
from coffee_maker.agent.result import AgentResult, Status
from coffee_maker.agent.tools import TOOL_SPECS, Toolbox, ToolOutcome
from coffee_maker.agent.workspace import ToolError, Workspace

__all__ = [
    "TOOL_SPECS",
    "Agent",
    "AgentResult",
    "CommandResult",
    "Interrupted",
    "LimitReached",
    "ProviderGaveUp",
    "Status",
    "Stuck",
    "ToolError",
    "ToolOutcome",
    "Toolbox",
    "Workspace",
]
