"""Whether the token may push, asked of GitHub by a short-lived child process.

PyGithub, with requests, PyJWT and cryptography, holds ~20 MB once imported, and a
Python process never gives that memory back. The preflight asks GitHub one question
when a daemon starts, and the daemon may then wait for hours with nothing to publish:
so that question is asked by a child process, through the same
:class:`~coffee_maker.autonomous.pull_requests.PullRequestPublisher` (the same
retries, timeouts and error lines), and the daemon imports PyGithub only when it has a
pull request to open. The token goes to the child on its stdin, never on its command
line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from coffee_maker.autonomous.pull_requests import PullRequestError, PullRequestPublisher
from coffee_maker.secrets import redact_text

#: Longer than the publisher's own bound (a 15 s timeout, 3 retries, 60 s backoff at most).
CHILD_TIMEOUT = 300.0
#: The package's parent: the child imports this very code, wherever it was imported from.
_ROOT = str(Path(__file__).resolve().parents[2])
_CHILD = (
    f"import sys; sys.path.insert(0, {_ROOT!r}); "
    "from coffee_maker.autonomous.push_check import main; main()"
)


def push_access(publisher: PullRequestPublisher) -> bool | None:
    """``publisher.push_access()``, answered by a child process (None: GitHub did not say).

    Raises :class:`PullRequestError` with the child's line when GitHub refused or could
    not be reached, and with what went wrong when the child itself failed.
    """
    doing = f"could not read the repository {publisher.repo_full_name}"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD],
            input=json.dumps(publisher.options),
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PullRequestError(
            f"{doing}: GitHub at {publisher.api_url} did not answer within "
            f"{CHILD_TIMEOUT:.0f} s; check the network and github.api_url"
        ) from None
    lines = proc.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):
        said = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise PullRequestError(redact_text(f"{doing}: the check failed: {said}"))
    if "error" in answer:
        raise PullRequestError(redact_text(str(answer["error"])))
    push = answer.get("push")
    return push if isinstance(push, bool) else None


def main() -> None:
    """The child: the publisher's options on stdin, one JSON line on stdout."""
    options = json.loads(sys.stdin.read())
    try:
        publisher = PullRequestPublisher(**options)
        try:
            answer: dict[str, object] = {"push": publisher.push_access()}
        finally:
            publisher.close()
    except PullRequestError as exc:
        answer = {"error": str(exc)}
    print(json.dumps(answer))
