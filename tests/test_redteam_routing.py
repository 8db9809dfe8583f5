"""Attacks on routing's privacy: a priority kept local must not reach a cloud provider in
the work that is not a tier of its cascade (a follow-up on its pull request)."""

from __future__ import annotations

import subprocess

from test_routing import ROADMAP, config

from coffee_maker.autonomous.roadmap import Roadmap
from coffee_maker.autonomous.routing_history import is_private
from coffee_maker.autonomous.state import RepoState
from coffee_maker.autonomous.task_profile import profile


def test_a_priority_a_rule_keeps_local_stays_local_in_its_follow_ups(tmp_path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    state = RepoState.load(tmp_path)
    priority = Roadmap.parse(ROADMAP).get("2")
    assert not profile(priority).local_only  # no **Privacy** line: only the rule says so
    kind = profile(priority).task_type
    cfg = config(rules=[{"type": kind, "local_only": True}])

    assert is_private(cfg, state, "PRIORITY 2", priority)
