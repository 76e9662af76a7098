"""The sync client against `grpc_testing.channel`: scripted replies, no server, milliseconds.

The client's call runs in a thread; the test plays server on the testing channel (take the
RPC, check the request, terminate it with a reply or a status). gRPC's own retries live in
the channel's service config, which a testing channel does not run; what the client decides
(which channel, which policy, what it sends again) is checked here, and the retries
themselves against a real server in test_retry_restart.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc_testing
import pytest
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_client import TaskQueueClient
from taskqueue_client import errors as client_errors
from taskqueue_client.models import TaskStatus

SERVICE = pb.DESCRIPTOR.services_by_name["TaskQueueService"]
GET_TASK = SERVICE.methods_by_name["GetTask"]
ENQUEUE = SERVICE.methods_by_name["Enqueue"]
ENQUEUE_BATCH = SERVICE.methods_by_name["EnqueueBatch"]
# Long enough for a loaded machine; a healthy run answers in microseconds.
REPLY_TIMEOUT = 10.0


@dataclass
class Channels:
    """Every channel the client opened, in order, with the options it asked for."""

    opened: list[tuple[grpc_testing.Channel, dict[str, Any]]] = field(default_factory=list)

    def open(self, target: str, options: list[tuple[str, Any]]) -> grpc_testing.Channel:
        channel = grpc_testing.channel([SERVICE], grpc_testing.strict_real_time())
        self.opened.append((channel, dict(options)))
        return channel

    def channel(self, index: int = 0) -> grpc_testing.Channel:
        return self.opened[index][0]

    def options(self, index: int = 0) -> dict[str, Any]:
        return self.opened[index][1]


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> Channels:
    """The client opens testing channels where it would open real ones."""
    made = Channels()
    monkeypatch.setattr(grpc, "insecure_channel", made.open)
    return made


@pytest.fixture
def client(channels: Channels) -> Iterator[TaskQueueClient]:
    with TaskQueueClient("unit-test:1", timeout=5.0) as opened:
        yield opened


@pytest.fixture
def in_thread() -> Iterator[Callable[..., Future[Any]]]:
    """Run a blocking client call off the test thread, so the test can answer it."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit


def answer(channel: grpc_testing.Channel, method: Any, response: Any = None,
           code: grpc.StatusCode = grpc.StatusCode.OK, details: str = "") -> Any:
    """Take the client's pending call of `method`, end it as scripted; returns its request."""
    _metadata, request, rpc = channel.take_unary_unary(method)
    rpc.terminate(response, (), code, details)
    return request


def task(status: int = pb.TASK_STATUS_PENDING) -> pb.Task:
    return pb.Task(id="t-1", queue="default", task_type="send_email", status=status)


@pytest.mark.parametrize(("code", "kind"), [
    (grpc.StatusCode.NOT_FOUND, client_errors.NotFound),
    (grpc.StatusCode.INVALID_ARGUMENT, client_errors.InvalidArgument),
    (grpc.StatusCode.FAILED_PRECONDITION, client_errors.FailedPrecondition),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, client_errors.ResourceExhausted),
    (grpc.StatusCode.UNAUTHENTICATED, client_errors.Unauthenticated),
    (grpc.StatusCode.UNAVAILABLE, client_errors.Unavailable),
    # A code with no class of its own still arrives as a ServiceError with the server's words.
    (grpc.StatusCode.ABORTED, client_errors.ServiceError),
])
def test_a_status_becomes_its_exception_with_the_servers_message(
        client: TaskQueueClient, channels: Channels, in_thread: Callable[..., Future[Any]],
        code: grpc.StatusCode, kind: type[client_errors.ServiceError]) -> None:
    message = "task_id: no task 't-1' (it may have expired)"
    pending = in_thread(client.get_task, "t-1")
    request = answer(channels.channel(), GET_TASK, code=code, details=message)

    with pytest.raises(kind) as caught:
        pending.result(REPLY_TIMEOUT)
    assert type(caught.value) is kind
    assert (caught.value.code, caught.value.message) == (code, message)
    assert request == pb.GetTaskRequest(task_id="t-1")


def test_a_status_the_client_does_not_know_still_reads_the_task(
        client: TaskQueueClient, channels: Channels,
        in_thread: Callable[..., Future[Any]]) -> None:
    # Through the wire format, as a newer server's reply would arrive: proto3 enums keep 99.
    unknown = pb.GetTaskResponse.FromString(
        pb.GetTaskResponse(task=task(status=99)).SerializeToString())
    assert unknown.task.status == 99
    pending = in_thread(client.get_task, "t-1")
    answer(channels.channel(), GET_TASK, unknown)

    got = pending.result(REPLY_TIMEOUT)
    assert (got.id, got.task_type) == ("t-1", "send_email")
    assert got.status is TaskStatus.UNKNOWN and not got.status.is_terminal


def test_a_lost_reply_then_the_same_call_again_succeeds(
        client: TaskQueueClient, channels: Channels,
        in_thread: Callable[..., Future[Any]]) -> None:
    first = in_thread(client.get_task, "t-1")
    lost = answer(channels.channel(), GET_TASK, code=grpc.StatusCode.UNAVAILABLE,
                  details="connection reset")
    with pytest.raises(client_errors.Unavailable, match="connection reset"):
        first.result(REPLY_TIMEOUT)

    again = in_thread(client.get_task, "t-1")
    retried = answer(channels.channel(), GET_TASK, pb.GetTaskResponse(task=task()))
    got = again.result(REPLY_TIMEOUT)
    assert retried == lost
    assert (got.id, got.status) == ("t-1", TaskStatus.PENDING)
    assert len(channels.opened) == 1  # the client stays on its channel after a failure


def test_retry_safe_calls_go_on_the_channel_that_retries_unavailable(
        client: TaskQueueClient, channels: Channels) -> None:
    options = channels.options()
    assert options["grpc.enable_retries"] == 1
    [config] = json.loads(options["grpc.service_config"])["methodConfig"]
    assert config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert config["retryPolicy"]["maxAttempts"] == 5
    named = {name["method"] for name in config["name"]}
    assert {"GetTask", "GetResult", "Enqueue", "EnqueueBatch"} <= named
    assert "RetryTask" not in named  # not idempotent: a resent one meets the task re-queued


def test_an_enqueue_grpc_may_resend_carries_its_idempotency_key(
        client: TaskQueueClient, channels: Channels,
        in_thread: Callable[..., Future[Any]]) -> None:
    # Sent on the retrying channel, so a reply lost on the way back may be resent by gRPC
    # as the same bytes: the key the client added makes the server store the task once.
    pending = in_thread(client.enqueue, "send_email", {"to_email": "a@b.org"})
    request = answer(channels.channel(), ENQUEUE, pb.EnqueueResponse(task_id="t-1"))
    assert pending.result(REPLY_TIMEOUT) == "t-1"
    assert len(request.idempotency_key) == 32
    # Time-ordered, the shape of a task id's suffix (the server may make it the id).
    assert abs(int(request.idempotency_key[:12], 16) / 1000 - time.time()) < 60
    assert len(channels.opened) == 1


def test_an_enqueue_without_a_key_goes_on_a_channel_that_never_retries(
        channels: Channels, in_thread: Callable[..., Future[Any]]) -> None:
    with TaskQueueClient("unit-test:1", auto_idempotency_key=False) as client:
        pending = in_thread(client.enqueue, "send_email", {"to_email": "a@b.org"})
        request = answer(channels.channel(1), ENQUEUE, pb.EnqueueResponse(task_id="t-2"))
        assert pending.result(REPLY_TIMEOUT) == "t-2"
    assert request.idempotency_key == ""
    assert channels.options(1)["grpc.enable_retries"] == 0
    assert "grpc.service_config" not in channels.options(1)


def test_enqueue_many_asks_for_ids_only_and_reads_whole_tasks_from_an_older_server(
        client: TaskQueueClient, channels: Channels,
        in_thread: Callable[..., Future[Any]]) -> None:
    specs = [{"task_type": "send_email", "task_data": {"n": n}} for n in range(2)]
    pending = in_thread(client.enqueue_many, specs)
    request = answer(channels.channel(), ENQUEUE_BATCH,
                     pb.EnqueueBatchResponse(task_ids=["t-1", "t-2"]))
    assert pending.result(REPLY_TIMEOUT) == ["t-1", "t-2"]
    assert request.ids_only and [dict(t.task_data) for t in request.tasks] == [{"n": 0}, {"n": 1}]
    # A server older than ids_only ignores it: no task_ids, the whole tasks instead.
    pending = in_thread(client.enqueue_many, specs)
    answer(channels.channel(), ENQUEUE_BATCH,
           pb.EnqueueBatchResponse(tasks=[pb.Task(id="t-3"), pb.Task(id="t-4")]))
    assert pending.result(REPLY_TIMEOUT) == ["t-3", "t-4"]
