"""A poisoned ledger line is skipped with one warning naming its line, never applied.

Anything that can append to ``ledger.jsonl`` could otherwise lift every budget (a negative
cost) or stop every command (``1e300`` overflowed the nano-dollar conversion). Each poison
line goes through the real commands a user runs: ``project-manager provider costs``,
``code-developer status`` and ``code-developer --once``, which must still refuse to spend
past the daily limit.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_support import fakes_running, git, isolate_git, make_project

from coffee_maker.ai_providers.cost_tracker import CostTracker
from coffee_maker.ai_providers.ledger import timestamp
from coffee_maker.ai_providers.ledger_records import MAX_RECORD_COST
from coffee_maker.ai_providers.provider_config import CostControls

BIN = Path(sys.executable).parent
NOW = timestamp(time.time())


def call(**fields: object) -> str:
    record = {"kind": "call", "ts": NOW, "provider": "openai", "model": "m", "cost": 0.5}
    return json.dumps(record | fields)


#: (the poisoned line, what its warning must say)
POISON = [
    (call(cost=1e300), "cost 1e+300 is above the cap"),
    (call(cost=-100), "cost -100 is negative"),
    (call(cost=-1999.98), "cost -1999.98 is negative"),
    (call(cost=10_000.01), "above the cap of 10000"),
    (call().replace('"cost": 0.5', '"cost": NaN'), "cost nan is not finite"),
    (call().replace('"cost": 0.5', '"cost": Infinity'), "cost inf is not finite"),
    (call().replace('"cost": 0.5', '"cost": 1e999'), "cost inf is not finite"),
    (call(cost="12.5"), "cost is not a number (str)"),
    (call(cost=True), "cost is not a number (bool)"),
    (call(input_tokens=10**12), "input_tokens 1e+12 is above the cap"),
    (call(output_tokens=-5), "output_tokens -5 is negative"),
    (call(provider=["openai"]), "provider is not text (list)"),
    (call(ts="yesterday"), "ts 'yesterday' is not an ISO date"),
    (call(kind="refund", cost=-50), "unknown kind 'refund'"),
    (json.dumps({"kind": "reserve", "id": "r1", "amount": 1e300, "expires": 1e300}), "amount"),
    (json.dumps({"kind": "reserve", "id": "r", "amount": 1, "expires": 9e9, "pid": 2**70}), "pid"),
    ("[1, 2, 3]", "not a JSON record"),
]


def ledger_with(home: Path, poison: str) -> None:
    """$1.50 and $0.25 of real calls today, with the poisoned line between them."""
    home.mkdir(parents=True, exist_ok=True)
    lines = [call(cost=1.5, input_tokens=10), poison, call(cost=0.25)]
    (home / "ledger.jsonl").write_text("\n".join(lines) + "\n")


def run(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
        "XDG_CONFIG_HOME": str(cwd / "xdg"),
        "COFFEE_MAKER_HOME": str(home),
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }
    command = [str(BIN / args[0]), *args[1:]]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def warnings_in(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "ledger.jsonl:" in line]


@pytest.mark.parametrize(("poison", "why"), POISON, ids=[w for _, w in POISON])
def test_costs_and_status_skip_a_poisoned_line_with_one_warning(
    tmp_path: Path, poison: str, why: str
) -> None:
    home = tmp_path / "home"
    ledger_with(home, poison)
    git(tmp_path, "init", "-q", "repo")

    costs = run("project-manager", "provider", "costs", home=home, cwd=tmp_path)
    assert costs.returncode == 0, costs.stderr
    assert "$1.75 of $50.00" in costs.stdout and "Traceback" not in costs.stderr
    [warning] = warnings_in(costs.stderr)
    assert f"{home / 'ledger.jsonl'}:2: skipping" in warning and why in warning

    status = run("code-developer", "status", "--json", "--repo", "repo", home=home, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["spend"]["today"] == 1.75
    [warning] = warnings_in(status.stderr)
    assert f"{home / 'ledger.jsonl'}:2:" in warning and why in warning


def test_a_huge_number_of_records_at_the_cap_adds_up_exactly(tmp_path: Path) -> None:
    """Totals are integers: 20,000 records at the cap are $200,000,000.00 to the cent."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger.jsonl").write_text((call(cost=MAX_RECORD_COST) + "\n") * 20_000)
    tracker = CostTracker(CostControls(daily_limit=None), home=home)
    assert tracker.get_daily_cost() == 200_000_000.0
    assert tracker.get_monthly_cost() == 200_000_000.0


def test_two_trackers_in_one_process_warn_once_and_appends_still_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = tmp_path / "home"
    ledger_with(home, call(cost=-1999.98))
    with caplog.at_level(logging.WARNING, logger="coffee_maker.ai_providers.ledger"):
        first = CostTracker(CostControls(daily_limit=2.0), home=home)
        second = CostTracker(CostControls(daily_limit=2.0), home=home)
        first.track_cost("openai", 0.1)
    assert first.get_daily_cost() == second.get_daily_cost() == pytest.approx(1.85)
    assert second.check_cost_limit("openai", 0.2) is False  # the budget is not lifted
    ours = [r.getMessage() for r in caplog.records if r.name.endswith(".ledger")]
    assert len(ours) == 1 and "ledger.jsonl:2: skipping" in ours[0]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    isolate_git(tmp_path, monkeypatch)
    project = make_project(tmp_path)
    with fakes_running(project, cost_controls={"daily_limit": 1.0}) as running:
        yield project, running.model, running.github


def test_once_with_a_negative_line_still_respects_the_daily_limit(project: tuple) -> None:
    """$1.00 spent of a $1.00 limit, plus a -$1,999.98 line: nothing may be spent."""
    project, model, github = project
    project.home.mkdir(parents=True, exist_ok=True)
    lines = [call(cost=1.0), call(cost=-1999.98), call(cost=float("nan")).replace("NaN", "1e300")]
    (project.home / "ledger.jsonl").write_text("\n".join(lines) + "\n")

    result = project.run("--once")
    assert result.returncode == 75, result.stdout + result.stderr
    assert "the budget is exhausted" in result.stdout and "daily_limit" in result.stdout
    assert model.requests == [] and github.pulls == []
    assert "Traceback" not in result.stderr
    warnings = warnings_in(result.stderr)
    assert len(warnings) == 2, result.stderr  # one per poisoned line, not one per reader
    assert "ledger.jsonl:2:" in warnings[0] and "-1999.98 is negative" in warnings[0]
    assert "ledger.jsonl:3:" in warnings[1] and "above the cap" in warnings[1]


@pytest.mark.parametrize(
    ("cost", "recorded"),
    [(1e300, MAX_RECORD_COST), (float("nan"), MAX_RECORD_COST), (float("inf"), MAX_RECORD_COST),
     (-3.0, 0.0), ("garbage", MAX_RECORD_COST), (0.25, 0.25)],
)  # fmt: skip
def test_what_a_vendor_reports_is_bounded_before_it_is_written(
    tmp_path: Path, cost: object, recorded: float
) -> None:
    """A hostile usage report must use the budget up, never slip past it or crash it."""
    tracker = CostTracker(CostControls(daily_limit=None), home=tmp_path)
    tracker.track_cost("openai", cost, {"input_tokens": 10**15, "output_tokens": -4})  # type: ignore[arg-type]
    [record] = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert record["cost"] == recorded and tracker.get_daily_cost() == recorded
    assert record["input_tokens"] == 10**9 and record["output_tokens"] == 0
    reservation = tracker.reserve("openai", "m", float("inf"))
    assert reservation.amount == MAX_RECORD_COST == tracker.get_reserved()


def test_every_poison_at_once_costs_and_csv_count_only_real_calls(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    lines = [call(cost=1.5), *(poison for poison, _ in POISON), call(cost=0.25)]
    (home / "ledger.jsonl").write_text("\n".join(lines) + "\n")
    costs = run("project-manager", "provider", "costs", "--csv", "out.csv", home=home, cwd=tmp_path)
    assert costs.returncode == 0, costs.stderr
    assert "$1.75 of $50.00" in costs.stdout
    warned = warnings_in(costs.stderr)
    assert [w.split(".jsonl:")[1].split(":")[0] for w in warned] == [
        str(n) for n in range(2, len(POISON) + 2)
    ]  # one warning per poisoned line, in order, each naming its line
    rows = (tmp_path / "out.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].endswith(",1.500000000,") and ",0.250000000," in rows[2]
