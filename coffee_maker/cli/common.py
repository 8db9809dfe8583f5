"""What both command-line programs share: exit codes, the error guard, config and console.

The README ("Exit codes") promises that a user's mistake ends in one line naming the
file, key or flag, with exit code 2, and never in a traceback. :func:`run_guarded` is the
single place that promise is kept, so a command body can simply raise. Nothing heavy is
imported at module level: ``--help`` must not pay for pydantic, rich or a vendor SDK.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from coffee_maker.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

    from coffee_maker.config import AppConfig

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TEMPFAIL = 75
EXIT_INTERRUPTED = 130
#: Columns for tables when stdout is not a terminal.
PIPE_WIDTH = 160


class UsageError(UserError):
    """A mistake the user can fix (a flag, a name, a missing file); ``str()`` is one line."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (plus a pointer to ``--help``), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def add_common_flags(parser: argparse.ArgumentParser, *, repo: bool = True) -> None:
    """``--config`` and (where a repository matters) ``--repo``, on every subcommand."""
    parser.add_argument(
        "--config", metavar="PATH", help="configuration file (default: the usual lookup)"
    )
    if repo:
        parser.add_argument(
            "--repo", metavar="PATH", default=".", help="the git repository (default: .)"
        )
    parser.add_argument(
        "--verbose", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )


def error_line(message: str) -> None:
    """Print one redacted line on stderr: messages may quote vendor text holding a key."""
    from coffee_maker.secrets import redact_text

    text = " ".join(str(message).split()) or "error"
    print(redact_text(text), file=sys.stderr, flush=True)


def run_guarded(command: Callable[[], int], *, prog: str, verbose: bool = False) -> int:
    """Run a command body, turning every exception into an exit code and one line.

    A :class:`~coffee_maker.errors.UserError` (config, state, roadmap, pull request,
    service, preflight, unknown priority, usage...) is the user's to fix: exit 2.
    Anything else is our bug or the world's: exit 1 with a pointer to ``--verbose``, which
    prints the traceback as well.
    """
    try:
        return command()
    except UserError as exc:
        error_line(f"{prog}: {exc.one_line()}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        error_line(f"{prog}: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:
        if verbose:
            from coffee_maker.secrets import redact_text

            print(redact_text(traceback.format_exc()), file=sys.stderr)
            error_line(f"{prog}: {type(exc).__name__}: {exc}")
        else:
            error_line(f"{prog}: {type(exc).__name__}: {exc} (run with --verbose for details)")
        return EXIT_FAILED


def load_app_config(config_path: str | None = None, repo: str | None = None) -> AppConfig:
    """The config by the usual lookup: :func:`load_config`, imported only when a command
    needs it (the env file with the keys ``project-manager setup`` wrote is read there,
    for the command-line programs and the Python API alike)."""
    from coffee_maker.ai_providers.provider_config import load_config

    return load_config(config_path, repo)


def make_console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A rich Console; created lazily so that importing the CLI stays cheap."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, **kwargs)
    if not console.is_terminal and "width" not in kwargs and not os.environ.get("COLUMNS"):
        console.width = PIPE_WIDTH  # a table piped to a file or grep need not wrap at 80
    return console
