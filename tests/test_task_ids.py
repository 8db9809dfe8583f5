"""The run's task id is written and read back in one place; a wrong parse would put a
priority's spend under another name in ``status`` and ``provider costs --by priority``."""

from __future__ import annotations

import pytest

from coffee_maker.autonomous.task_ids import priority_of, task_id


@pytest.mark.parametrize("priority", ["PRIORITY 1", "PRIORITY 2.1", "US-7", "a:b"])
def test_a_run_task_id_gives_its_priority_back(priority: str) -> None:
    assert priority_of(task_id("calc", priority, "20261202T120000-abc123")) == ("calc", priority)


@pytest.mark.parametrize("task", [None, "", "probe", "calc:only-two", ":PRIORITY 1:r"])
def test_other_task_ids_are_no_priority(task: str | None) -> None:
    assert priority_of(task) is None
