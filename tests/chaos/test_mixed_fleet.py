"""A mixed fleet drains work of one shared type: 2 servers' in-process pools, 2 remote Python
workers and 1 Node worker, all real processes on real Redis. Every task completes exactly
once, every kind of worker takes part, and Stats agree with ListTasks.

bench/remote_worker_bench.py runs the same fleet with 5,000 tasks.
"""

from __future__ import annotations

from tests.client.test_node_example import node_ready, pytestmark  # noqa: F401
from tests.support.fleet import check_fleet, run_fleet
from tests.support.server_process import REDIS_URL, ServerFactory


def test_mixed_fleet_completes_each_task_once(
    node_ready: None,  # noqa: F811
    servers: ServerFactory,
) -> None:
    check_fleet(run_fleet(servers, REDIS_URL, tasks=1000, timeout=180))
