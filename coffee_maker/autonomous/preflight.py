"""Preflight: what the user can fix, found before any money is spent.

Without these checks a missing ``origin``, a base branch the remote does not have or a
token that cannot push is discovered after the model has worked (and been paid) for the
priority. Each check answers one question in one line (:class:`Check`); ``--once`` and
the daemon stop at the first bad one with exit code 2, ``--dry-run`` prints them all.
Checks only read: the config, the repository's refs, ``git ls-remote`` and GitHub's
``GET /repos/{owner}/{name}``, each bounded by a timeout. No model is ever called here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from coffee_maker.ai_providers.provider_config import ConfigError
from coffee_maker.ai_providers.provider_factory import ProviderFactory
from coffee_maker.autonomous import git_ops, publishing, push_check
from coffee_maker.autonomous.planning import resolve_base_branch
from coffee_maker.autonomous.pull_requests import PullRequestError
from coffee_maker.config import AppConfig
from coffee_maker.errors import UserError
from coffee_maker.secrets import redact_text


@dataclass(frozen=True)
class Check:
    """One answered question: ``detail`` says what was found, or what to fix."""

    name: str
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{'ok ' if self.ok else 'bad'}  {self.name}: {self.detail}"


class PreflightError(UserError):
    """A check failed; ``str()`` is its one line (the command line exits with 2)."""


def run_checks(
    config: AppConfig,
    repo: Path,
    *,
    chain: Iterable[str],
    factory: ProviderFactory,
    pull_requests: bool,
    stop_at_first_bad: bool = False,
) -> list[Check]:
    """Every check in order (cheap, offline ones first); with ``stop_at_first_bad``, up
    to the first that fails. A check whose premise failed (no remote: no reachability)
    is left out rather than reported twice."""
    checks: list[Check] = []
    found = _all(config, repo, list(chain), factory, pull_requests)
    for check in found:
        checks.append(check)
        if stop_at_first_bad and not check.ok:
            break
    return checks


def require(checks: Iterable[Check]) -> None:
    """Raise :class:`PreflightError` for the first bad check."""
    bad = next((check for check in checks if not check.ok), None)
    if bad is not None:
        raise PreflightError(f"preflight: {bad.name}: {bad.detail}")


def render(checks: Iterable[Check]) -> list[str]:
    return [check.line for check in checks]


def _sandbox(config: AppConfig) -> Check:
    """Model-written code runs only in a sandbox, unless the config says otherwise."""
    if config.agent.sandbox.mode == "none":
        return Check("sandbox", True, "none: model-written code runs as you (agent.sandbox)")
    from coffee_maker.agent.sandbox import sandbox_problem

    problem = sandbox_problem()
    network = "with" if config.agent.sandbox.network else "without"
    if problem is None:
        return Check("sandbox", True, f"bubblewrap, tests run {network} the network")
    return Check("sandbox", False, f"agent.sandbox: {problem}")


def _all(
    config: AppConfig, repo: Path, chain: list[str], factory: ProviderFactory, prs: bool
) -> Iterator[Check]:
    yield _providers(chain, factory)
    if config.routing.enabled or config.routing.privacy == "local":
        yield _routing(config, factory)
    yield _sandbox(config)
    yield from _remote(config, repo)
    if prs:
        yield from _github(config, repo)


def _providers(chain: list[str], factory: ProviderFactory) -> Check:
    """Every provider of the chain can be built: its ``type`` exists (keys are the fallback's
    business: a provider without its key is skipped, which is not always a mistake)."""
    if not chain:
        return Check("providers", False, f"{factory.source}: providers: none is configured")
    for name in chain:
        try:
            factory.create(name)
        except ConfigError as exc:
            return Check("providers", False, str(exc))
    return Check("providers", True, " -> ".join(chain))


def _routing(config: AppConfig, factory: ProviderFactory) -> Check:
    """Every tier's providers can be built (the config's own checks ran when it was read:
    tiers name configured providers, rules name existing tiers; docs/ROUTING.md)."""
    routing = config.routing
    for i, tier in enumerate(routing.tiers):
        for j, name in enumerate(tier):
            try:
                factory.create(name)
            except ConfigError as exc:
                return Check("routing", False, f"routing.tiers[{i}][{j}]: {exc}")
    tiers = " | ".join(", ".join(tier) for tier in routing.tiers) or "the local providers"
    return Check("routing", True, f"tiers {tiers}; privacy {routing.privacy}")


def _remote(config: AppConfig, repo: Path) -> Iterator[Check]:
    remote = config.daemon.remote
    url = git_ops.remote_url(repo, remote)
    if url is None:
        yield Check(
            "remote",
            False,
            f"{repo} has no git remote named {remote!r} (daemon.remote); add it "
            f"(git remote add {remote} URL) or set daemon.remote to one it has",
        )
        return
    shown = _public_url(url)
    yield Check("remote", True, f"{remote} is {shown}")
    try:
        default = git_ops.remote_default_branch(repo, remote)
    except git_ops.GitError as exc:
        yield Check(
            "remote reachable",
            False,
            f"remote {remote!r} ({shown}) cannot be read: {_git_said(exc)}; check the URL "
            "(git remote -v), the network and your credentials",
        )
        return
    yield Check("remote reachable", True, f"{remote} answers; its default branch is {default}")
    yield _base_branch(config, repo, default)


def _base_branch(config: AppConfig, repo: Path, default: str | None) -> Check:
    remote = config.daemon.remote
    try:
        base = resolve_base_branch(config, repo)
        exists = git_ops.remote_has_branch(repo, base, remote)
    except git_ops.GitError as exc:
        return Check("base branch", False, _git_said(exc))
    source = "daemon.base_branch" if config.daemon.base_branch else f"{remote}'s default branch"
    if exists:
        return Check("base branch", True, f"{base} ({source})")
    hint = f"; {remote}'s default branch is {default!r}" if default else ""
    if not config.daemon.base_branch:
        hint += f" (run `git remote set-head {remote} --auto` to update {remote}/HEAD)"
    return Check(
        "base branch",
        False,
        f"branch {base!r} ({source}) does not exist on remote {remote!r}; set "
        f"daemon.base_branch to a branch it has, or push {base}{hint}",
    )


def _github(config: AppConfig, repo: Path) -> Iterator[Check]:
    """The token exists, sees the repository and may push to it (``permissions.push``)."""
    try:
        publisher = publishing.make_publisher(config, repo)
    except PullRequestError as exc:
        yield Check("github token", False, f"{exc} (or run with --no-pr)")
        return
    env = config.github.token_env
    yield Check("github token", True, f"${env} is set")
    try:
        push = push_check.push_access(publisher)  # PyGithub in a child: the daemon stays small
    except PullRequestError as exc:
        yield Check("github repository", False, str(exc))
        return
    name = publisher.repo_full_name
    yield Check("github repository", True, f"{name} at {publisher.api_url}")
    if push is False:
        yield Check(
            "github push",
            False,
            f"the token in ${env} has no push permission on {name}; give it write access "
            "(contents and pull requests), or run with --no-pr",
        )
    else:
        said = "may push" if push else "permissions not reported by GitHub; assuming it may push"
        yield Check("github push", True, f"the token in ${env} {said}")


def _public_url(url: str) -> str:
    """The remote's URL without an https user or token (``https://TOKEN@host/o/r``)."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and "@" in parts.netloc:
        url = parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
    return redact_text(url)


def _git_said(exc: git_ops.GitError) -> str:
    """git's first line, without our ``git X failed in DIR (exit N):`` preamble."""
    text = str(exc)
    if text.startswith("git ") and "): " in text:
        text = text.split("): ", 1)[1]
    return text.strip().splitlines()[0] if text.strip() else "no message"
