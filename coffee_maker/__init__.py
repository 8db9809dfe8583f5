"""coffee-maker: an autonomous development daemon.

Layers (imports point down only): cli -> autonomous -> agent -> ai_providers.
"""

__version__ = "0.1.0"
