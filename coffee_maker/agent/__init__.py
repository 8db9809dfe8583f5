"""The agent layer: a task, a workspace and a model in; a verified change out.

It imports only ``coffee_maker.ai_providers`` and ``coffee_maker.secrets``: it knows
nothing of git, roadmaps or pull requests. The names below are loaded on first use
(PEP 562), so a daemon that is only waiting, or reading a result, does not hold the
loop, the tools and their parsers in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from coffee_maker.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from coffee_maker.agent.commands import CommandResult
    from coffee_maker.agent.loop import Agent, LimitReached, ProviderGaveUp, Stuck
    from coffee_maker.agent.result import AgentResult, Interrupted, Status
    from coffee_maker.agent.tools import TOOL_SPECS, Toolbox, ToolOutcome
    from coffee_maker.agent.workspace import ToolError, Workspace

#: Each public name and the module that defines it.
_EXPORTS = {
    "TOOL_SPECS": "tools",
    "Agent": "loop",
    "AgentResult": "result",
    "CommandResult": "commands",
    "Interrupted": "result",
    "LimitReached": "loop",
    "ProviderGaveUp": "loop",
    "Status": "result",
    "Stuck": "loop",
    "ToolError": "workspace",
    "ToolOutcome": "tools",
    "Toolbox": "tools",
    "Workspace": "workspace",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
