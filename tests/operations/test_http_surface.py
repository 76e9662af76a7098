"""The HTTP port beside gRPC, against a real server process and real Redis: the seed's REST
shapes, Prometheus metrics, health and readiness, bearer tokens."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from taskqueue_client import InvalidArgument, TaskQueueClient

from tests.support.server_process import ServerFactory, ServerProcess
from tests.support.waiting import free_port

TOKEN = "s3cret-admin-token-for-http-tests"


def get(url: str, token: str | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def get_json(url: str, token: str | None = None) -> tuple[int, Any]:
    status, body, _ = get(url, token)
    return status, json.loads(body)


def http_base(server: ServerProcess) -> str:
    return f"http://{server.http_target}"


@pytest.fixture
def http_server(servers: ServerFactory) -> Iterator[ServerProcess]:
    yield servers.start(env={"TASKQUEUE_HTTP_PORT": str(free_port())})


def test_seed_rest_shapes(http_server: ServerProcess) -> None:
    base = http_base(http_server)
    with TaskQueueClient(f"127.0.0.1:{http_server.port}") as client:
        task_id = client.enqueue("echo", {"hello": "http"})
        client.wait(task_id, timeout=20)
    status, body = get_json(f"{base}/tasks/{task_id}")
    assert status == 200
    task = body["task"]
    assert (task["id"], task["type"], task["status"]) == (task_id, "echo", "completed")
    assert task["created_at"] and task["updated_at"] >= task["created_at"]
    assert body["result"] == {"echo": {"hello": "http"}, "attempt": 1}

    status, stats = get_json(f"{base}/tasks/queue/stats?task_type=echo")
    assert status == 200 and list(stats) == ["echo"]
    assert stats["echo"]["completed"] >= 1 and stats["echo"]["pending"] == 0

    status, body = get_json(f"{base}/tasks/not-a-task-id")
    assert status == 400 and "malformed task id" in body["error"]
    status, body = get_json(f"{base}/tasks/default-{'0' * 32}")
    assert status == 404 and (body["code"], body["reason"]) == ("NOT_FOUND", "TASK_NOT_FOUND")
    status, body = get_json(f"{base}/tasks/queue/stats?task_type=bad%20type")
    assert status == 400


def test_metrics_count_calls_and_read_queue_depth(http_server: ServerProcess) -> None:
    base = http_base(http_server)
    with TaskQueueClient(f"127.0.0.1:{http_server.port}") as client:
        client.wait(client.enqueue("echo", {}), timeout=20)
        with pytest.raises(InvalidArgument):
            client.enqueue("echo", {}, priority=5000)
    status, text, headers = get(f"{base}/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert 'taskqueue_grpc_requests_total{code="OK",method="Enqueue"} 1.0' in text
    assert 'taskqueue_grpc_requests_total{code="INVALID_ARGUMENT",method="Enqueue"} 1.0' in text
    assert re.search(
        r'taskqueue_tasks\{queue="default",status="completed",task_type="echo"\} [1-9]', text
    ), text
    # The totals are counters (monitoring takes their rate); the refused Enqueue stored none.
    assert "# TYPE taskqueue_task_events_total counter" in text
    events = 'taskqueue_task_events_total{event="%s",queue="default",task_type="echo"}'
    assert f"{events % 'enqueued'} 1.0" in text and f"{events % 'completed'} 1.0" in text
    assert 'taskqueue_grpc_request_duration_seconds_count{method="Enqueue"} 2.0' in text
    assert (
        'taskqueue_handler_duration_seconds_count{outcome="completed",task_type="echo"} 1.0'
        in text
    )


def test_health_and_readiness(http_server: ServerProcess) -> None:
    base = http_base(http_server)
    assert get_json(f"{base}/healthz") == (200, {"status": "ok"})
    assert get_json(f"{base}/readyz") == (200, {"status": "ready"})


def test_bearer_tokens_guard_everything_but_health(servers: ServerFactory) -> None:
    server = servers.start(
        env={"TASKQUEUE_HTTP_PORT": str(free_port()), "TASKQUEUE_AUTH_TOKENS": f"admin:{TOKEN}"}
    )
    base = http_base(server)
    for path in ("/metrics", "/tasks/queue/stats", f"/tasks/default-{'0' * 32}"):
        status, _, headers = get(base + path)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer", path
        assert get(base + path, token="wrong")[0] == 401
    assert get(base + "/metrics", token=TOKEN)[0] == 200
    assert get(base + "/healthz")[0] == 200


def test_a_busy_http_port_stops_the_server(servers: ServerFactory) -> None:
    port = free_port()
    servers.start(env={"TASKQUEUE_HTTP_PORT": str(port)})
    with pytest.raises(RuntimeError, match=f"cannot listen for HTTP on port {port}"):
        servers.start(env={"TASKQUEUE_HTTP_PORT": str(port)}, ready_timeout=10)
