"""Every error the user can fix is a UserError, and the command line exits 2 for it once."""

from __future__ import annotations

import pytest

from coffee_maker.ai_providers.provider_config import ConfigError
from coffee_maker.ai_providers.yaml_files import YamlFileError
from coffee_maker.autonomous.preflight import PreflightError
from coffee_maker.autonomous.pull_requests import PullRequestError
from coffee_maker.autonomous.repo_lock import AlreadyRunningError
from coffee_maker.autonomous.roadmap import RoadmapError
from coffee_maker.autonomous.run_endings import UnknownPriorityError
from coffee_maker.autonomous.service import ServiceError
from coffee_maker.autonomous.state import StateError
from coffee_maker.cli.common import EXIT_FAILED, EXIT_USAGE, UsageError, run_guarded
from coffee_maker.errors import UserError

USER_ERRORS = [
    ConfigError,
    YamlFileError,
    PreflightError,
    PullRequestError,
    ServiceError,
    StateError,
    UnknownPriorityError,
    UsageError,
]


def _raise(exc: BaseException):
    def command() -> int:
        raise exc

    return command


@pytest.mark.parametrize("cls", USER_ERRORS, ids=lambda c: c.__name__)
def test_each_user_error_exits_2_with_its_one_line(
    cls: type[Exception], capsys: pytest.CaptureFixture[str]
) -> None:
    assert issubclass(cls, UserError)
    code = run_guarded(_raise(cls("config.yaml: daemon.interval: not a number")), prog="cm")
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == "cm: config.yaml: daemon.interval: not a number\n"
    assert "Traceback" not in err


def test_a_roadmap_error_is_one_line_of_its_problems(capsys: pytest.CaptureFixture[str]) -> None:
    error = RoadmapError(["ROADMAP.md:3: no id", "ROADMAP.md:9: duplicate id"])
    assert run_guarded(_raise(error), prog="cm") == EXIT_USAGE
    assert capsys.readouterr().err == "cm: ROADMAP.md:3: no id; ROADMAP.md:9: duplicate id\n"


def test_a_busy_repository_is_not_a_user_error(capsys: pytest.CaptureFixture[str]) -> None:
    """AlreadyRunningError exits 75 where the daemon starts; anywhere else it is a bug."""
    assert not issubclass(AlreadyRunningError, UserError)
    assert run_guarded(_raise(AlreadyRunningError("busy")), prog="cm") == EXIT_FAILED


def test_every_error_class_named_like_a_user_error_is_one() -> None:
    """A new ``...Error`` in the config, state, roadmap or CLI modules must choose."""
    import inspect

    from coffee_maker.ai_providers import provider_config, yaml_files
    from coffee_maker.autonomous import preflight, pull_requests, roadmap, service, state
    from coffee_maker.cli import common

    # A busy repository (exit 75); a lookup's answer that callers handle or turn into
    # UnknownPriorityError with the flag's name.
    not_users = {AlreadyRunningError, roadmap.PriorityLookupError, roadmap.AmbiguousPriorityError}
    modules = (
        provider_config,
        yaml_files,
        preflight,
        pull_requests,
        roadmap,
        service,
        state,
        common,
    )
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__ and issubclass(cls, Exception):
                if cls.__name__.startswith("_"):
                    continue  # internal, turned into a public one before it leaves
                assert issubclass(cls, UserError) or cls in not_users, cls
