"""Server and client name the task statuses as the contract does: one source, the proto enum."""

from __future__ import annotations

from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_client.models import TaskStatus
from taskqueue_server.engine.models import Status


def contract_statuses() -> set[str]:
    return {
        name.removeprefix("TASK_STATUS_").lower()
        for name in (value.name for value in pb.TaskStatus.DESCRIPTOR.values)
        if name != "TASK_STATUS_UNSPECIFIED"
    }


def test_engine_statuses_are_the_contracts() -> None:
    assert {s.value for s in Status} == contract_statuses()
    assert all(s.value == s.name.lower() for s in Status)


def test_client_statuses_are_the_contracts_plus_unknown() -> None:
    assert {s.value for s in TaskStatus} - {"unknown"} == contract_statuses()
    assert all(s.value == s.name.lower() for s in TaskStatus)
