"""A mixed fleet on one shared task type: 2 servers running it in-process, 2 remote Python
workers and 1 Node worker, all real processes. Used by tests/chaos/test_mixed_fleet.py
(1,000 tasks) and bench/remote_worker_bench.py (5,000)."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import redis
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import worker_pb2 as wpb
from taskqueue.v1 import worker_pb2_grpc as wpb_grpc

from tests.chaos.harness import counts_from_listing, enqueue_all, list_all, stats_by_type, stub
from tests.support.remote_worker import worker_process
from tests.support.server_process import ServerFactory
from tests.support.waiting import wait_until

NODE_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"
FLEET_HANDLERS = "tests.remote.handlers_fleet_server"


@dataclass
class FleetRun:
    """What a drain left behind, for `check_fleet`."""

    ids: set[str]
    seconds: float
    python_runs: dict[str, str]
    by_kind: dict[str, str]
    node_done: list[str]
    listed: list[pb.Task] = field(repr=False)
    stats: dict[str, int]


def run_fleet(factory: ServerFactory, record_url: str, tasks: int, timeout: float) -> FleetRun:
    """Start the fleet on `factory`'s Redis, drain `tasks` fleet tasks, stop it, read back."""
    env = {"TQTEST_REDIS_URL": record_url, "TQTEST_PREFIX": factory.key_prefix}
    servers = [factory.start(handlers=[FLEET_HANDLERS], env=env) for _ in range(2)]
    processes = [
        worker_process(s.target, factory.key_prefix, f"python-{n}", record_url=record_url)
        for n, s in enumerate(servers)
    ]
    processes.append(
        subprocess.Popen(
            ["node", "worker.mjs", "--target", servers[0].target, "--types", "fleet",
             "--worker-id", "node-0", "--concurrency", "8"],
            cwd=NODE_EXAMPLE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    )  # fmt: skip
    try:
        channel = grpc.insecure_channel(servers[1].target)
        api = stub(channel)
        lister = wpb_grpc.WorkerServiceStub(channel)
        listed = lambda: lister.ListWorkers(wpb.ListWorkersRequest(), timeout=10).workers  # noqa: E731
        wait_until(lambda: len(listed()) == 5, 60, "all 5 workers announced themselves")
        requests = [pb.EnqueueRequest(task_type="fleet") for _ in range(tasks)]
        for n, request in enumerate(requests):
            # A few ms of work each, so no kind of worker drains the lot before the others.
            request.task_data.update({"n": n, "ms": 5})
        started = time.perf_counter()
        ids = set(enqueue_all(api, requests, batch=500))
        drained = lambda: stats_by_type(api).get("fleet", {}).get("completed") == tasks  # noqa: E731
        wait_until(drained, timeout, "the fleet drained every task", interval=0.1)
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=60)[0] for process in processes]
    recorder = redis.Redis.from_url(record_url, decode_responses=True)
    return FleetRun(
        ids=ids,
        seconds=seconds,
        python_runs=recorder.hgetall(f"{factory.key_prefix}:rec:fleet_runs"),
        by_kind=recorder.hgetall(f"{factory.key_prefix}:rec:fleet_by"),
        node_done=re.findall(r"^completed (\S+)$", outputs[-1], re.MULTILINE),
        listed=list_all(api),
        stats=stats_by_type(api)["fleet"],
    )


def check_fleet(run: FleetRun) -> None:
    """Each task completed once, by someone; every kind took part; Stats agree with ListTasks."""
    assert set(run.python_runs.values()) == {"1"}, "a Python handler ran some task twice"
    node = set(run.node_done)
    assert len(run.node_done) == len(node) and not node & set(run.python_runs)
    assert set(run.python_runs) | node == run.ids, "every task was run by someone, once"
    assert int(run.by_kind["server"]) > 0 and int(run.by_kind["python"]) > 0 and node
    completed = {t.id for t in run.listed if t.status == pb.TASK_STATUS_COMPLETED}
    assert completed == run.ids
    assert counts_from_listing(run.listed)["fleet"] == run.stats
