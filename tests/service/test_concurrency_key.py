"""The concurrency key a task is enqueued with: the caller's, else its type's default
(GitHub imports: one per repository)."""

from __future__ import annotations

import pytest
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.config.settings import RequestLimits
from taskqueue_server.handlers import github  # noqa: F401 - registers the import handlers
from taskqueue_server.service.convert import new_task_from_request
from taskqueue_server.service.validation import InvalidArgument
from taskqueue_server.worker.registry import registered


def _import_request(**fields: str) -> pb.EnqueueRequest:
    request = pb.EnqueueRequest(task_type="github_import_issues", **fields)
    request.task_data.update({"owner": "octo", "repo": "hello"})
    return request


def test_github_imports_are_keyed_by_repository_by_default() -> None:
    task = new_task_from_request(_import_request(), RequestLimits(), registered())
    assert task.concurrency_key == "github:octo/hello"


def test_the_callers_key_wins_over_the_default() -> None:
    request = _import_request(concurrency_key="tenant-7")
    assert new_task_from_request(request, RequestLimits(), registered()).concurrency_key == (
        "tenant-7"
    )


def test_a_key_too_long_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as refused:
        new_task_from_request(
            _import_request(concurrency_key="k" * 129), RequestLimits(), registered()
        )
    assert "concurrency_key" in str(refused.value.field)
