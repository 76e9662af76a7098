"""A mixed fleet drains work of one shared type: 2 servers' in-process pools, 2 remote Python
workers and 1 Node worker, all real processes on real Redis. Every task completes exactly
once, every kind of worker takes part, and Stats agree with ListTasks.

bench/remote_worker_bench.py runs the same fleet with 5,000 tasks.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator

import grpc
import pytest
import redis
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.client.test_node_example import EXAMPLE, node_ready, pytestmark  # noqa: F401
from tests.support.remote_worker import worker_process
from tests.support.server_process import REDIS_URL, ServerFactory

from .harness import counts_from_listing, enqueue_all, list_all, stats_by_type, stub, wait_until

TASKS = 1000
FLEET_HANDLERS = "tests.remote.handlers_fleet_server"


def start_fleet(factory: ServerFactory, processes: list[subprocess.Popen[str]]) -> list[str]:
    """Two servers running `fleet` in-process, two Python workers and one Node worker."""
    env = {"TQTEST_REDIS_URL": REDIS_URL, "TQTEST_PREFIX": factory.key_prefix}
    servers = [factory.start(handlers=[FLEET_HANDLERS], env=env) for _ in range(2)]
    for n, server in enumerate(servers):
        processes.append(worker_process(server.target, factory.key_prefix, f"python-{n}"))
    node = subprocess.Popen(
        ["node", "worker.mjs", "--target", servers[0].target, "--types", "fleet",
         "--worker-id", "node-0", "--concurrency", "8"],
        cwd=EXAMPLE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    processes.append(node)
    return [server.target for server in servers]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_mixed_fleet_completes_each_task_once(
    node_ready: None,  # noqa: F811
    servers: ServerFactory,
    processes: list[subprocess.Popen[str]],
) -> None:
    targets = start_fleet(servers, processes)
    api = stub(grpc.insecure_channel(targets[1]))
    requests = []
    for n in range(TASKS):
        request = pb.EnqueueRequest(task_type="fleet")
        request.task_data.update({"n": n})
        requests.append(request)
    ids = set(enqueue_all(api, requests, batch=500))
    wait_until(
        lambda: stats_by_type(api).get("fleet", {}).get("completed") == TASKS, 180, "drained"
    )
    for process in processes:
        process.send_signal(signal.SIGTERM)
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    node_done = re.findall(r"^completed (\S+)$", outputs[-1], re.MULTILINE)
    recorder = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    runs = recorder.hgetall(f"{servers.key_prefix}:rec:fleet_runs")
    by_kind = recorder.hgetall(f"{servers.key_prefix}:rec:fleet_by")
    assert set(runs.values()) == {"1"}, "a Python handler ran some task twice"
    assert len(node_done) == len(set(node_done)) and not set(node_done) & set(runs)
    assert set(runs) | set(node_done) == ids, "every task was run by someone, once"
    assert int(by_kind["server"]) > 0 and int(by_kind["python"]) > 0 and node_done, by_kind
    listed = list_all(api)
    assert {t.id for t in listed if t.status == pb.TASK_STATUS_COMPLETED} == ids
    assert counts_from_listing(listed)["fleet"] == stats_by_type(api)["fleet"]
