"""The dashboard's HTTP side against a real server and Redis: roles per route (a viewer reads,
its actions are refused with 403 and change nothing), the purge dry run, the live stream, and
the page's assets served from package data without a token."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc
from taskqueue_client import TaskQueueClient, TaskStatus

from tests.browser.conftest import ADMIN, PRODUCER, VIEWER, start_dashboard_server
from tests.operations.test_http_surface import get, get_json
from tests.security.test_auth import bearer
from tests.support.server_process import ServerFactory


def post(url: str, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_viewer_reads_and_every_action_is_refused(servers: ServerFactory) -> None:
    dashboard = start_dashboard_server(servers)
    base = dashboard.url.rstrip("/")
    with TaskQueueClient(dashboard.grpc_target, token=ADMIN) as client:
        parked = client.enqueue("echo", {}, delay_seconds=3600)
        viewer_session = {"role": "viewer", "can_act": False}
        assert get_json(f"{base}/api/session", VIEWER) == (200, viewer_session)
        assert get_json(f"{base}/api/session", ADMIN) == (200, {"role": "admin", "can_act": True})
        status, body = get_json(f"{base}/api/queues/default/tasks", VIEWER)
        assert status == 200 and [task["id"] for task in body["tasks"]] == [parked]
        assert get_json(f"{base}/api/tasks/{parked}", VIEWER)[0] == 200
        verbs = ("priority", "cancel", "retry", "delete")
        actions = [f"/api/tasks/{parked}/{verb}" for verb in verbs]
        actions += [f"/api/queues/default/{verb}" for verb in ("pause", "resume", "purge", "bulk")]
        for path in actions:
            status, body = post(base + path, {"priority": 5}, VIEWER)
            assert status == 403 and "needs the admin role" in body["error"], path
            assert post(base + path, {"priority": 5}, PRODUCER)[0] == 403, path
            assert post(base + path, {"priority": 5}, None)[0] == 401, path
        task = client.get_task(parked)
        assert (task.status, task.priority) == (TaskStatus.SCHEDULED, 0)
        [queue] = get_json(f"{base}/api/queues", ADMIN)[1]["queues"]
        assert not queue["paused"]


def test_purge_shows_the_count_first_then_removes(servers: ServerFactory) -> None:
    dashboard = start_dashboard_server(servers)
    base = dashboard.url.rstrip("/")
    with TaskQueueClient(dashboard.grpc_target, token=ADMIN) as client:
        client.pause_queue("default")
        held = [client.enqueue("echo", {"n": n}) for n in range(3)]
        sleeper = client.enqueue("sleep", {}, delay_seconds=3600)
        purge = f"{base}/api/queues/default/purge"
        status, body = post(purge, {"dry_run": True, "type": "echo"}, ADMIN)
        assert (status, body) == (200, {"matched": 3, "dry_run": True})
        assert client.get_task(held[0]).status == TaskStatus.PENDING  # a dry run changes nothing
        assert post(purge, {"dry_run": True}, ADMIN)[1]["matched"] == 4
        assert post(purge, {"type": "echo"}, ADMIN) == (200, {"purged": 3})
        bulk = f"{base}/api/queues/default/bulk"
        cancel = {"action": "cancel", "type": "sleep", "status": "scheduled"}
        assert post(bulk, {**cancel, "dry_run": True}, ADMIN) == (
            200, {"matched": 1, "next_cursor": ""}
        )
        assert client.get_task(sleeper).status == TaskStatus.SCHEDULED
        assert post(bulk, cancel, ADMIN)[1]["matched"] == 1
        assert client.get_task(sleeper).status == TaskStatus.CANCELLED
        status, body = post(bulk, {"action": "explode"}, ADMIN)
        assert status == 400 and "action must be one of retry, cancel, delete" in body["error"]
        status, body = post(f"{base}/api/tasks/{held[0]}/priority", {"priority": 5000}, ADMIN)
        assert status == 400 and "priority must be an integer from -1000 to 1000" in body["error"]


def test_roles_and_assets_outside_the_api(servers: ServerFactory) -> None:
    dashboard = start_dashboard_server(servers)
    base = dashboard.url.rstrip("/")
    status, page, headers = get(base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<script type="module" src="/static/app.js">' in page
    for asset in ("app.js", "api.js", "dom.js", "dashboard.css"):
        assert get(f"{base}/static/{asset}")[0] == 200, asset
    assert get(f"{base}/static/missing.js")[0] == 404
    assert get(f"{base}/static/..%2fserver.py")[0] == 404
    assert get(f"{base}/api/queues")[0] == 401
    # A producer may not list queues or tasks (as over gRPC); the seed's reads stay open to it.
    assert get(f"{base}/api/queues", PRODUCER)[0] == 403
    assert get(f"{base}/api/live", PRODUCER)[0] == 403
    assert get(f"{base}/metrics", PRODUCER)[0] == 200


def test_the_live_stream_pushes_counts_and_rates(servers: ServerFactory) -> None:
    dashboard = start_dashboard_server(servers)
    with TaskQueueClient(dashboard.grpc_target, token=ADMIN) as client:
        client.wait(client.enqueue("echo", {}), timeout=20)
    request = urllib.request.Request(dashboard.url + "api/live")
    request.add_header("Authorization", f"Bearer {VIEWER}")
    snapshots = []
    with urllib.request.urlopen(request, timeout=10) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        for line in stream:
            if line.startswith(b"data: "):
                snapshots.append(json.loads(line[6:]))
            if len(snapshots) == 2:
                break
    [queue] = snapshots[-1]["queues"]
    assert queue["name"] == "default" and queue["counts"]["completed"] == 1
    assert queue["rates"] == [0.0]  # one interval measured, nothing finished in it


def test_lists_and_bulk_actions_filter_by_an_indexed_label(servers: ServerFactory) -> None:
    dashboard = start_dashboard_server(servers, "--indexed-labels", "tenant")
    base = dashboard.url.rstrip("/")
    with (
        TaskQueueClient(dashboard.grpc_target, token=ADMIN) as client,
        grpc.insecure_channel(dashboard.grpc_target) as channel,
    ):
        stub = pb_grpc.TaskQueueServiceStub(channel)  # the Python client has no labels yet
        acme, other = (
            stub.Enqueue(
                pb.EnqueueRequest(task_type="echo", delay_seconds=3600, labels={"tenant": tenant}),
                timeout=5,
                metadata=bearer(ADMIN),
            ).task_id
            for tenant in ("acme", "globex")
        )
        status, body = get_json(f"{base}/api/queues/default/tasks?label=tenant%3Dacme", VIEWER)
        assert status == 200 and [task["id"] for task in body["tasks"]] == [acme]
        cancel = {"action": "cancel", "status": "scheduled", "label": "tenant=acme"}
        assert post(f"{base}/api/queues/default/bulk", cancel, ADMIN)[1]["matched"] == 1
        assert client.get_task(acme).status == TaskStatus.CANCELLED
        assert client.get_task(other).status == TaskStatus.SCHEDULED
        status, body = get_json(f"{base}/api/queues/default/tasks?label=region%3Deu", VIEWER)
        assert status == 400 and "not an indexed label key" in body["error"]
        assert get_json(f"{base}/api/queues/default/tasks?label=tenant", VIEWER)[0] == 400
