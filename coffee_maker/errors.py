"""The root of every error the user can fix: a bad config, state, roadmap, flag or service.

Each layer raises its own subclass with a one-line message naming the file, key or flag;
the command line catches :class:`UserError` once, prints the message and exits 2 (README,
"Exit codes"). It lives at the package's root, below every layer, so each can import it.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message says what and where, in one line."""

    def one_line(self) -> str:
        """What the command line prints after its name (a subclass may join several)."""
        return str(self)
