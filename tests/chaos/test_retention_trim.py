"""Retention must keep Redis flat: once finished tasks expire, their index entries go too.

The soak (bench/drills/soak.py) found Redis memory climbing while the number of keys stayed
flat: the per-queue `all` and `s:<status>` sorted sets kept an entry for every task ever
finished. This is the small deterministic version of that finding.
"""

from __future__ import annotations

from collections.abc import Callable

from taskqueue_server.engine.keys import QueueKeys

from tests.support.waiting import wait_until

from .cluster import ChaosCluster
from .harness import enqueue_all, request, stats_by_type, stub

TASKS = 3000


def test_expired_tasks_leave_the_indexes_soon_after_retention(
    make_cluster: Callable[..., ChaosCluster],
) -> None:
    cluster = make_cluster(
        "--task-ttl-seconds", "1", "--result-ttl-seconds", "1", label="retention"
    )  # fmt: skip
    server = cluster.start()
    api = stub(cluster.channel(server))
    ids = enqueue_all(api, [request("chaos_noop", {}) for _ in range(TASKS)])
    wait_until(
        lambda: stats_by_type(api)["chaos_noop"]["completed"] == TASKS, 60, "all completed", 0.2
    )
    keys = QueueKeys(cluster.prefix, "default")
    store = cluster.store()
    try:
        wait_until(
            lambda: not any(store.exists(keys.task(i)) for i in ids[-10:]), 10,
            "the finished tasks' retention ran out",
        )  # fmt: skip
        assert store.exists(keys.task(ids[0])) == 0

        def indexed() -> int:
            return int(store.zcard(keys.by_status("completed")) + store.zcard(keys.expiry))

        wait_until(lambda: indexed() == 0, 20, "expired tasks dropped from the indexes", 0.5)
        # Every expiry bucket (a list per second, scripts/_lib.lua) went with its entry.
        assert list(store.scan_iter(match=f"{keys.base}x:*", count=1000)) == []
    finally:
        print(f"\nindex entries left: expiry={store.zcard(keys.expiry)}, "
              f"completed={store.zcard(keys.by_status('completed'))}")  # fmt: skip
        store.close()
