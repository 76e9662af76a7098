"""Enqueue-time validation of the GitHub import types."""

from __future__ import annotations

from typing import Any

import pytest
from taskqueue_server.handlers.github.tasks import (
    github_import_issues,
    validate_import_issues,
    validate_import_milestones,
)
from taskqueue_server.worker.context import PermanentError

GOOD: dict[str, Any] = {"owner": "octo-org", "repo": "hello.world_2"}


def test_good_payloads_pass() -> None:
    validate_import_issues(GOOD)
    validate_import_issues({**GOOD, "state": "closed", "since": "2024-01-31", "labels": "a, b",
                            "token": "ghp_x", "max_items": 10})
    validate_import_milestones({**GOOD, "state": "all", "since": "2024-01-31T00:00:00Z"})


@pytest.mark.parametrize(("change", "message"), [
    ({"owner": None}, "task_data.owner: is required"),
    ({"owner": "../etc"}, "task_data.owner: must be a GitHub owner name"),
    ({"owner": 5}, "task_data.owner: must be a GitHub owner name"),
    ({"repo": None}, "task_data.repo: is required"),
    ({"repo": "a/b"}, "task_data.repo: must be a GitHub repo name"),
    ({"repo": ".."}, "task_data.repo: must be a repository name"),
    ({"state": "merged"}, "task_data.state: must be one of open, closed, all"),
    ({"since": "yesterday"}, "task_data.since: must be an ISO 8601 date-time"),
    ({"since": 1700000000}, "task_data.since: must be an ISO 8601 date-time"),
    ({"labels": [1, 2]}, "task_data.labels: must be a list of strings"),
    ({"labels": ["ok", "a,b"]}, r"task_data.labels\[1\]: must be a non-empty name"),
    ({"token": ""}, "task_data.token: must be a non-empty string"),
    ({"token": "abc\r\nX-Evil: 1"}, "task_data.token: must be a non-empty string"),
    ({"max_items": 0}, "task_data.max_items: must be between 1 and"),
    ({"max_items": 2.5}, "task_data.max_items: must be a whole number"),
    ({"max_items": True}, "task_data.max_items: must be a whole number"),
])
def test_issues_names_the_bad_field(change: dict[str, Any], message: str) -> None:
    data = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        validate_import_issues(data)


def test_milestones_reject_labels() -> None:
    with pytest.raises(ValueError, match=r"task_data\.labels: milestones cannot be filtered"):
        validate_import_milestones({**GOOD, "labels": ["bug"]})


def test_token_value_is_never_echoed() -> None:
    with pytest.raises(ValueError) as caught:
        validate_import_issues({**GOOD, "token": "secret value"})
    assert "secret" not in str(caught.value)


async def test_handler_fails_permanently_on_bad_data(make_ctx) -> None:
    with pytest.raises(PermanentError, match=r"task_data\.repo: is required"):
        await github_import_issues({"owner": "octo"}, make_ctx())
