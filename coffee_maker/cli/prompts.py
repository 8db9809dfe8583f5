"""Asking the user questions: on a terminal, or from lines piped into stdin.

The setup wizard reads plain lines, so a test (or a provisioning script) can drive it
through a real process with its answers piped in. Secrets are read with ``getpass`` on a
terminal and, from a pipe, taken from the next line; they are never written back out.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TextIO

from coffee_maker.cli.common import UsageError

#: A check returns why an answer is not acceptable, or None.
Check = Callable[[str], str | None]


class InputEnded(UsageError):
    """stdin closed before the wizard had every answer."""


class Prompter:
    """Questions on ``stdout``; answers from ``stdin`` (Enter takes the default)."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def _line(self) -> str:
        line = self.stdin.readline()
        if not line:
            raise InputEnded(
                "setup: input ended before every question was answered; nothing written"
            )
        return line.rstrip("\r\n")

    def ask(self, question: str, default: str | None = None, check: Check | None = None) -> str:
        """An answer that passes ``check``; asked again (with the reason) until one does."""
        suffix = f" [{default}]" if default else ""
        while True:
            self.stdout.write(f"{question}{suffix}: ")
            self.stdout.flush()
            answer = self._line().strip() or (default or "")
            problem = check(answer) if check else None
            if problem is None:
                return answer
            self.say(f"  {problem}")

    def secret(self, question: str, check: Check | None = None) -> str:
        """A hidden answer ('' when the user just pressed Enter)."""
        while True:
            if self.stdin.isatty():
                answer = getpass.getpass(f"{question}: ", stream=self.stdout).strip()
            else:
                self.stdout.write(f"{question}: ")
                self.stdout.flush()
                answer = self._line().strip()
                self.say()
            problem = check(answer) if check and answer else None
            if problem is None:
                return answer
            self.say(f"  {problem}")
