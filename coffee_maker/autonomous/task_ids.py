"""The task id a run gives its model calls, and the priority read back from one.

The ledger records each call's task id; the per-task budget, ``status``'s cost per
priority and ``project-manager provider costs --by priority`` all read it, so the format
is written and parsed here only: ``<repository directory>:<priority id>:<run id>``.
"""

from __future__ import annotations


def task_id(repo_name: str, priority_id: str, run_id: str) -> str:
    """The task id of one run of ``priority_id`` in the repository named ``repo_name``."""
    return f"{repo_name}:{priority_id}:{run_id}"


def priority_of(task: str | None) -> tuple[str, str] | None:
    """``(repository name, priority id)`` of a run's task id; None for any other id.

    The run id never holds a colon, so the priority id is what lies between the first
    colon and the last (a priority id with a colon in it survives).
    """
    if not task or task.count(":") < 2:
        return None
    repo, rest = task.split(":", 1)
    priority, _run = rest.rsplit(":", 1)
    return (repo, priority) if repo and priority else None
