"""``code-developer``: the daemon's command line (docs/ARCHITECTURE.md, "cli").

Only ``argparse`` is imported at start-up; everything else is imported by the command
that needs it, so ``--help`` answers at once. Every error a user can cause ends in one
line and exit code 2 (:func:`coffee_maker.cli.common.run_guarded`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from coffee_maker.cli.common import EXIT_OK, ArgumentParser, run_guarded

PROG = "code-developer"

DESCRIPTION = """\
Turn the priorities in a repository's ROADMAP.md into pull requests, unattended.

Each iteration takes the next planned priority, has an AI provider implement it in a
git worktree of its own, runs the tests, commits, pushes a branch and opens a pull
request. Your checkout is never touched.
"""

EPILOG = """\
other commands:
  code-developer status [--repo PATH] [--json]       what the daemon is doing
  code-developer install-service [--user|--system] [--print] [--repo PATH]
  code-developer demo                                offline end-to-end run, no keys
  code-developer worker --temporal [--task-queue Q]  a fleet worker (docs/FLEET.md)
  code-developer submit --repo PATH [--priority ID]  hand priorities to the fleet
  code-developer status --fleet [--json]             the fleet's runs

exit codes: 0 done (a PR was opened, or nothing to do), 1 the priority failed,
  2 usage or configuration error, 75 temporarily unable (no provider available, the
  budget exhausted, or another code-developer already runs for this repository),
  130 interrupted
"""


def run_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--repo", default=".", metavar="PATH", help="the git repository")
    parser.add_argument("--config", metavar="PATH", help="the config file (default: lookup)")
    parser.add_argument("--provider", metavar="NAME", help="put NAME first in the chain")
    parser.add_argument(
        "--no-fallback", action="store_true", help="use only the first provider (with retries)"
    )
    parser.add_argument("--once", action="store_true", help="run one iteration and exit")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what the next iteration would do"
    )
    parser.add_argument(
        "--priority",
        metavar="ID",
        help="work on this priority (e.g. 'PRIORITY 3', US-12, 3); also unblocks it. When "
        "several headings share an id, name one by its heading's line: 'PRIORITY 7@1234' "
        "(or just @1234)",
    )
    parser.add_argument("--interval", type=_seconds, metavar="SECONDS", help="between iterations")
    parser.add_argument(
        "--no-pr", action="store_true", help="push the branch but open no pull request"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logs, tracebacks")
    return parser


def status_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"{PROG} status",
        description="What the daemon is doing: the current run, results per priority, "
        "spend against the limits, the next run.",
    )
    parser.add_argument("--repo", default=".", metavar="PATH", help="the git repository")
    parser.add_argument("--config", metavar="PATH", help="the config file (for the limits)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--fleet", action="store_true", help="the fleet's runs, from Temporal (docs/FLEET.md)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="tracebacks on errors")
    return parser


def worker_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"{PROG} worker",
        description="A fleet worker: run priorities of the repositories in "
        "orchestrator.repositories as Temporal hands them out (docs/FLEET.md).",
    )
    parser.add_argument("--temporal", action="store_true", help="on Temporal (required)")
    parser.add_argument("--task-queue", metavar="Q", help="instead of orchestrator.task_queue")
    parser.add_argument("--config", metavar="PATH", help="the config file (default: lookup)")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logs, tracebacks")
    return parser


def submit_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"{PROG} submit",
        description="Start a fleet workflow for each ready priority of a repository's "
        "roadmap, or for the one --priority names.",
    )
    parser.add_argument("--repo", default=".", metavar="PATH", help="the git repository")
    parser.add_argument("--priority", metavar="ID", help="only this priority")
    parser.add_argument("--config", metavar="PATH", help="the config file (default: lookup)")
    parser.add_argument("--verbose", "-v", action="store_true", help="tracebacks on errors")
    return parser


def service_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"{PROG} install-service",
        description="Write a systemd unit (Type=notify, watchdog) running code-developer "
        "for a repository, and an EnvironmentFile for the keys.",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--user",
        dest="user",
        action="store_true",
        default=True,
        help="a user unit in ~/.config/systemd/user (default)",
    )
    scope.add_argument(
        "--system",
        dest="user",
        action="store_false",
        help="a system unit in /etc/systemd/system (run as root)",
    )
    parser.add_argument(
        "--print", dest="print_only", action="store_true", help="print the unit, write nothing"
    )
    parser.add_argument("--repo", default=".", metavar="PATH", help="the git repository")
    parser.add_argument("--verbose", "-v", action="store_true", help="tracebacks on errors")
    return parser


def demo_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=f"{PROG} demo",
        description="Run one real iteration offline: a throw-away repository, a local bare "
        "origin, a local fake GitHub and a SCRIPTED local model (no AI, no keys, no network).",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="show the daemon's logs")
    return parser


PARSERS: dict[str | None, Callable[[], ArgumentParser]] = {
    None: run_parser,
    "status": status_parser,
    "install-service": service_parser,
    "demo": demo_parser,
    "worker": worker_parser,
    "submit": submit_parser,
}


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = arguments[0] if arguments and arguments[0] in PARSERS else None
    args = PARSERS[command]().parse_args(arguments[1:] if command else arguments)
    code = run_guarded(lambda: _dispatch(command, args), prog=PROG, verbose=args.verbose)
    if argv is None and "temporalio.bridge" in sys.modules:
        # The Temporal SDK's Rust threads can crash the interpreter as it finalizes (a
        # SIGSEGV or SIGABRT after the work is done: temporalio/sdk-python#300). The fleet's
        # commands are done here: flush what they said and leave without the teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _dispatch(command: str | None, args: argparse.Namespace) -> int:
    if command in ("worker", "submit") or (command == "status" and args.fleet):
        from coffee_maker.cli import fleet_commands

        if command == "worker":
            return fleet_commands.run_worker(args)
        if command == "submit":
            return fleet_commands.run_submit(args)
        return fleet_commands.show_fleet(args)
    if command == "status":
        from coffee_maker.cli.daemon_status import show_status

        return show_status(Path(args.repo), args.config, as_json=args.json)
    if command == "install-service":
        return install_service(args)
    if command == "demo":
        from coffee_maker.cli.demo import run_demo

        return run_demo(verbose=args.verbose)
    from coffee_maker.cli.daemon_run import run_daemon

    return run_daemon(args)


def install_service(args: argparse.Namespace) -> int:
    """Write (or print) the unit; the service's own warnings are printed here, once."""
    import logging

    from coffee_maker.autonomous.service import install_service as install

    logging.getLogger("coffee_maker.autonomous.service").setLevel(logging.ERROR)
    result = install(Path(args.repo), user=args.user, print_only=args.print_only)
    if args.print_only:
        print(result.unit_text, end="")
        print(
            f"# would be written to {result.unit_path}; keys go in {result.env_file}",
            file=sys.stderr,
        )
    else:
        print(f"wrote {result.unit_path}")
        print(f"keys go in {result.env_file} (mode 0600; one KEY=value a line)")
        print("then run:")
        for line in result.commands:
            print(f"  {line}")
    for warning in result.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
