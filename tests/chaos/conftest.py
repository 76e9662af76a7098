"""Fixtures of the fault drills: clusters of real servers and a private Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.server_process import REDIS_URL

from .cluster import ChaosCluster
from .private_redis import PrivateRedis


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., ChaosCluster]]:
    """`make_cluster(*server_args, redis_url=...)`; every cluster is torn down after the test."""
    made: list[ChaosCluster] = []

    def make(*args: str, redis_url: str = REDIS_URL, label: str = "chaos") -> ChaosCluster:
        cluster = ChaosCluster(redis_url=redis_url, label=label, args=args)
        made.append(cluster)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of this test alone (AOF, fsync always), killed in teardown."""
    with PrivateRedis() as server:
        yield server
