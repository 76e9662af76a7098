"""Labels over gRPC: stored, returned, filtered by an indexed key; bad labels refused."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver, rpc_error
from tests.support.server_process import ServerFactory


@pytest.fixture
def driver(servers: ServerFactory) -> Iterator[Driver]:
    server = servers.start(extra_args=["--indexed-labels", "tenant,customer"])
    client = Driver(server.target)
    yield client
    client.close()


def test_labels_round_trip_and_filter(driver: Driver) -> None:
    acme = driver.enqueue("echo", labels={"tenant": "acme", "trace": "abc"}, delay_seconds=60)
    assert dict(acme.labels) == {"tenant": "acme", "trace": "abc"}
    driver.enqueue("echo", labels={"tenant": "globex"}, delay_seconds=60)
    batch = driver.stub.EnqueueBatch(
        pb.EnqueueBatchRequest(
            tasks=[pb.EnqueueRequest(task_type="echo", labels={"tenant": "acme"}, delay_seconds=60)]
        ),
        timeout=10,
    ).tasks[0]
    assert dict(driver.get(acme.id).labels) == dict(acme.labels)
    listed = driver.list_all("default", label="tenant=acme")
    assert sorted(t.id for t in listed) == sorted([acme.id, batch.id])
    scheduled = driver.list_all("default", label="tenant=acme", status=pb.TASK_STATUS_SCHEDULED)
    assert len(scheduled) == 2
    assert driver.list_all("default", label="customer=none") == []


@pytest.mark.parametrize(
    ("labels", "field"),
    [
        ({"Tenant": "x"}, "labels"),
        ({"a:b": "x"}, "labels"),
        ({"tenant": "x" * 257}, "labels['tenant']"),
        ({f"k{n}": "v" for n in range(17)}, "labels"),
    ],
)
def test_bad_labels_name_the_field(driver: Driver, labels: dict[str, str], field: str) -> None:
    before = driver.list_all("default")
    error = rpc_error(driver.enqueue, "echo", labels=labels)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith(f"{field}:"), error.details()
    batch = pb.EnqueueBatchRequest(tasks=[pb.EnqueueRequest(task_type="echo", labels=labels)])
    error = rpc_error(driver.stub.EnqueueBatch, batch, timeout=10)
    assert error.details().startswith(f"tasks[0].{field}:"), error.details()
    assert driver.list_all("default") == before


@pytest.mark.parametrize("label", ["trace=abc", "tenant", "=x"])
def test_label_filter_needs_an_indexed_key(driver: Driver, label: str) -> None:
    request = pb.ListTasksRequest(queue="default", label=label)
    error = rpc_error(driver.stub.ListTasks, request, timeout=10)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details().startswith("label:"), error.details()
