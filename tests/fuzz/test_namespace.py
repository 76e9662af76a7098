"""Page tokens are tamper-evident, and malformed input is refused before Redis sees it."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator

import grpc
import pytest
import redis
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from tests.fuzz.conftest import FuzzServer
from tests.support.server_process import REDIS_URL

Metadata = tuple[tuple[str, str], ...]


@pytest.fixture
def admin(fuzz_server: FuzzServer) -> Iterator[tuple[pb_grpc.TaskQueueServiceStub, Metadata]]:
    with grpc.insecure_channel(fuzz_server.process.target) as channel:
        yield (
            pb_grpc.TaskQueueServiceStub(channel),
            (("authorization", f"Bearer {fuzz_server.admin}"),),
        )


def list_code(stub: pb_grpc.TaskQueueServiceStub, md: Metadata, **fields: object) -> str:
    try:
        stub.ListTasks(pb.ListTasksRequest(**fields), timeout=5, metadata=md)  # type: ignore[arg-type]
    except grpc.RpcError as exc:
        return str(exc.code().name)
    return "OK"


def test_page_tokens_are_tamper_evident(
    admin: tuple[pb_grpc.TaskQueueServiceStub, Metadata],
) -> None:
    stub, md = admin
    queue = f"pages_{secrets.token_hex(4)}"
    parked = pb.EnqueueRequest(task_type="echo", queue=queue, delay_seconds=3600)
    stub.EnqueueBatch(pb.EnqueueBatchRequest(tasks=[parked] * 5), timeout=5, metadata=md)
    first = stub.ListTasks(pb.ListTasksRequest(queue=queue, page_size=2), timeout=5, metadata=md)
    token = first.next_page_token
    assert token
    second = stub.ListTasks(
        pb.ListTasksRequest(queue=queue, page_size=2, page_token=token), timeout=5, metadata=md
    )
    assert {t.id for t in second.tasks}.isdisjoint({t.id for t in first.tasks})
    for index in range(len(token)):
        flipped = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
        code = list_code(stub, md, queue=queue, page_size=2, page_token=flipped)
        assert code == "INVALID_ARGUMENT", (index, flipped)
    for forged in (token[:-1], token + "A", token.split(".")[0], "." + token.split(".")[1]):
        assert (
            list_code(stub, md, queue=queue, page_size=2, page_token=forged) == "INVALID_ARGUMENT"
        )
    # A genuine token is bound to its filters: another queue or status cannot reuse it.
    assert list_code(stub, md, queue="default", page_size=2, page_token=token) == "INVALID_ARGUMENT"
    assert (
        list_code(stub, md, queue=queue, status=pb.TASK_STATUS_PENDING, page_token=token)
        == "INVALID_ARGUMENT"
    )


class Monitor:
    """Every command Redis receives (from anyone) while it runs, via MONITOR."""

    def __init__(self, stop_word: str) -> None:
        self.stop_word = stop_word
        self.commands: list[str] = []
        self._client = redis.Redis.from_url(REDIS_URL)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _run(self) -> None:
        with self._client.monitor() as monitor:
            self._ready.set()
            for entry in monitor.listen():
                command = str(entry.get("command", ""))
                self.commands.append(command)
                if self.stop_word in command:
                    return

    def stop(self) -> list[str]:
        redis.Redis.from_url(REDIS_URL).echo(self.stop_word)
        self._thread.join(10)
        self._client.close()
        return self.commands


def test_malformed_input_never_reaches_redis(
    admin: tuple[pb_grpc.TaskQueueServiceStub, Metadata],
) -> None:
    stub, md = admin
    mark = f"neverseen{secrets.token_hex(6)}"
    bad_ids = [f"{mark}", f"default-{mark}", f"{mark}:x-{'0' * 32}", f"default-{'0' * 32}{mark}"]
    bad_names = [f"{mark}*", f"{mark}:{{x}}", f"{mark} x", f"{mark}\x00"]
    requests: list[tuple[str, object]] = []
    for task_id in bad_ids:
        requests += [
            ("GetTask", pb.GetTaskRequest(task_id=task_id)),
            ("CancelTask", pb.CancelTaskRequest(task_id=task_id)),
            ("RetryTask", pb.RetryTaskRequest(task_id=task_id)),
            ("GetResult", pb.GetResultRequest(task_id=task_id, wait_seconds=1)),
            ("WatchTask", pb.WatchTaskRequest(task_id=task_id)),
            ("Enqueue", pb.EnqueueRequest(task_type="echo", depends_on=[task_id])),
        ]
    for name in bad_names:
        requests += [
            ("ListTasks", pb.ListTasksRequest(queue=name)),
            ("ListTasks", pb.ListTasksRequest(page_token=name)),
            ("Stats", pb.StatsRequest(queue=name)),
            ("Stats", pb.StatsRequest(task_type=name)),
            ("Enqueue", pb.EnqueueRequest(task_type=name)),
            ("Enqueue", pb.EnqueueRequest(task_type="echo", queue=name)),
        ]
    monitor = Monitor(stop_word=f"stop-{mark}")
    refused: list[str] = []
    for method, request in requests:
        with pytest.raises(grpc.RpcError) as caught:
            reply = getattr(stub, method)(request, timeout=5, metadata=md)
            if method == "WatchTask":
                next(reply)
        refused.append(caught.value.code().name)
    seen = monitor.stop()
    assert set(refused) == {"INVALID_ARGUMENT"}
    assert any(f"stop-{mark}" in command for command in seen)  # the monitor did see traffic
    assert [command for command in seen if mark in command and "stop-" not in command] == []
