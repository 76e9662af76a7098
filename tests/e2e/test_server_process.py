"""The server as a process: health, reflection and grpcurl, limits, shutdown, scaling out."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.conftest import record_env
from tests.e2e.helpers import RECORD_HANDLERS, Driver, Records, rpc_error
from tests.support.server_process import DEMO_HANDLERS, REDIS_URL, ServerFactory, stop_all

SERVICE = "taskqueue.v1.TaskQueueService"
GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def health_status(target: str, service: str = "") -> int:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def wait_health(target: str, wanted: int, timeout: float) -> None:
    """Follow the health Watch stream until it reports `wanted`."""
    with grpc.insecure_channel(target) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=timeout
        )
        for message in stream:
            if message.status == wanted:
                stream.cancel()
                return
    raise AssertionError(f"health never became {wanted}")


def grpcurl(*args: str) -> str:
    done = subprocess.run(
        [GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_health_serving_and_reflection_with_grpcurl(servers: ServerFactory) -> None:
    server = servers.start()
    assert health_status(server.target) == health_pb2.HealthCheckResponse.SERVING
    assert health_status(server.target, SERVICE) == health_pb2.HealthCheckResponse.SERVING
    listed = grpcurl(server.target, "list").split()
    assert {SERVICE, "grpc.health.v1.Health"} <= set(listed)
    described = grpcurl(server.target, "describe", SERVICE)
    for method in ("Enqueue", "EnqueueBatch", "GetTask", "GetResult", "WatchTask", "Stats"):
        assert f"rpc {method}" in described
    enqueued = json.loads(grpcurl(
        "-d", '{"task_type": "echo", "task_data": {"to": "grpcurl"}}',
        server.target, f"{SERVICE}/Enqueue",
    ))
    result = json.loads(grpcurl(
        "-d", json.dumps({"task_id": enqueued.get("taskId", enqueued.get("task_id")),
                          "wait_seconds": 10}),
        server.target, f"{SERVICE}/GetResult",
    ))
    assert result["status"] == "TASK_STATUS_COMPLETED"
    assert result["result"]["echo"] == {"to": "grpcurl"}
    assert "SERVING" in grpcurl(server.target, "grpc.health.v1.Health/Check")
    probe = subprocess.run(
        [sys.executable, "-m", "taskqueue_server.service.probe"],
        env={"TASKQUEUE_PROBE_TARGET": server.target}, capture_output=True, text=True,
        timeout=30, check=False,
    )
    assert probe.returncode == 0 and "SERVING" in probe.stdout, probe.stderr


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_not_serving_while_redis_is_away_then_serving(tmp_path: Path) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with ServerFactory(redis_url=url) as factory:
        server = factory.start(redis_url=url)
        assert health_status(server.target) == health_pb2.HealthCheckResponse.NOT_SERVING
        assert health_status(server.target, SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING
        driver = Driver(server.target)
        error = rpc_error(driver.enqueue, "echo", {})
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
        probe = subprocess.run(
            [sys.executable, "-m", "taskqueue_server.service.probe"],
            env={"TASKQUEUE_PROBE_TARGET": server.target}, capture_output=True, text=True,
            timeout=30, check=False,
        )
        assert probe.returncode == 1 and "NOT_SERVING" in probe.stdout
        redis_server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_health(server.target, health_pb2.HealthCheckResponse.SERVING, timeout=20)
            task = driver.enqueue("echo", {"back": True})
            assert driver.finish(task.id).status == pb.TASK_STATUS_COMPLETED
        finally:
            driver.close()
            assert server.stop() == 0
            redis_server.terminate()
            redis_server.wait(10)
    assert "cannot reach the task store" in server.output()
    assert "Traceback" not in server.output()


def test_sigterm_finishes_short_tasks_and_hands_back_the_rest(servers: ServerFactory) -> None:
    env = record_env(servers)
    args = ["--concurrency", "4", "--shutdown-grace-seconds", "1.5"]
    first = servers.start(handlers=[RECORD_HANDLERS], extra_args=args, env=env)
    records = Records(REDIS_URL, servers.key_prefix)
    driver = Driver(first.target)
    # max_retries=0: a hand-back that spent the retry budget would fail these tasks.
    quick = [driver.enqueue("slow", {"first": 0.4, "then": 0.4}, max_retries=0) for _ in range(2)]
    stuck = [driver.enqueue("slow", {"first": 60, "then": 0.1}, max_retries=0) for _ in range(2)]
    for task in quick + stuck:
        driver.wait_for(task.id, [pb.TASK_STATUS_PROCESSING])
    started = time.monotonic()
    assert first.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    assert "handed back 2" in first.output()
    second = servers.start(handlers=[RECORD_HANDLERS], extra_args=args, env=env)
    driver.close()
    driver = Driver(second.target)
    for task in quick:
        assert driver.get(task.id).status == pb.TASK_STATUS_COMPLETED
        assert records.runs(task.id) == 1
    for task in stuck:
        assert driver.finish(task.id).status == pb.TASK_STATUS_COMPLETED
        assert (records.runs(task.id), records.completed_runs(task.id)) == (2, 1)
    driver.close()


def test_two_servers_share_one_redis_and_run_each_task_once(servers: ServerFactory) -> None:
    env = record_env(servers)
    pair = [
        servers.start(handlers=[RECORD_HANDLERS], extra_args=["--concurrency", "4"], env=env)
        for _ in range(2)
    ]
    records = Records(REDIS_URL, servers.key_prefix)
    driver = Driver(pair[0].target)
    batch = pb.EnqueueBatchRequest(
        tasks=[pb.EnqueueRequest(task_type="slow") for _ in range(60)]
    )
    for item in batch.tasks:
        item.task_data.update({"first": 0.05})
    tasks = driver.stub.EnqueueBatch(batch, timeout=10).tasks
    other = Driver(pair[1].target)
    for task in tasks:
        assert other.finish(task.id).status == pb.TASK_STATUS_COMPLETED
    assert all(records.runs(t.id) == 1 for t in tasks)
    pids = {pid for t in tasks for pid in records.workers(t.id)}
    assert pids == {str(s.process.pid) for s in pair}
    driver.close()
    other.close()
    assert stop_all(pair) == [0, 0]


def test_watch_streams_are_limited_per_server(servers: ServerFactory) -> None:
    server = servers.start(extra_args=["--max-watch-streams", "2"])
    driver = Driver(server.target)
    tasks = [driver.enqueue("echo", {}, queue="unworked") for _ in range(3)]
    streams = [
        driver.stub.WatchTask(pb.WatchTaskRequest(task_id=t.id), timeout=30) for t in tasks[:2]
    ]
    for stream in streams:
        assert next(stream).task.status == pb.TASK_STATUS_PENDING
    error = rpc_error(lambda: list(driver.stub.WatchTask(
        pb.WatchTaskRequest(task_id=tasks[2].id), timeout=10)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "2 WatchTask streams" in (error.details() or "")
    streams[0].cancel()
    deadline = time.monotonic() + 10
    while True:  # the slot frees once the server sees the cancellation
        third = driver.stub.WatchTask(pb.WatchTaskRequest(task_id=tasks[2].id), timeout=30)
        try:
            assert next(third).task.id == tasks[2].id
            break
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert time.monotonic() < deadline, "the cancelled stream's slot was never freed"
            time.sleep(0.05)
    third.cancel()
    streams[1].cancel()
    driver.close()


def test_unknown_types_are_accepted_when_configured(servers: ServerFactory) -> None:
    server = servers.start(handlers=[DEMO_HANDLERS], extra_args=["--accept-unknown-types"])
    driver = Driver(server.target)
    task = driver.enqueue("runs_elsewhere", {"x": 1})
    assert task.status == pb.TASK_STATUS_PENDING
    # Nobody here has the handler: the task waits for a server that does.
    assert driver.result(task.id, wait=0.5).status == pb.TASK_STATUS_PENDING
    assert driver.stats(task_type="runs_elsewhere")["runs_elsewhere"]["pending"] == 1
    driver.close()


def test_a_busy_port_fails_clearly(servers: ServerFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(RuntimeError, match="exited with 1"):
            servers.start(port=port)


def test_a_task_in_a_later_queue_runs_while_the_first_queue_is_idle(
    servers: ServerFactory,
) -> None:
    """Each queue's fetch loop reserves the free slots while it claims; a later queue's loop
    that saw none free must learn when the reservation ends, not only when a task finishes."""
    server = servers.start(extra_args=["--queues=first,second,third"])
    client = Driver(server.target)
    try:
        for queue in ("third", "second"):
            task = client.enqueue("echo", {}, queue=queue)
            assert client.finish(task.id, timeout=10).status == pb.TASK_STATUS_COMPLETED
    finally:
        client.close()
