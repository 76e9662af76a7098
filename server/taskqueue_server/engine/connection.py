"""Which Redis the engine talks to, from --redis-url: one node, a Cluster, or a Sentinel group.

    redis://host:port/db                          one Redis (rediss:// for TLS)
    redis+cluster://host:port,host:port           Redis Cluster: any reachable nodes seed it
    redis+sentinel://host:port,host:port/name[/db]  the primary Sentinel names `name`
(parsed by redis_url.py, which --redis-url's flag check uses too).

Every client returned here speaks the `redis.asyncio.Redis` command set the engine uses; a
Cluster client routes each command by its key's hash slot (one queue, one slot).
A URL that names the wrong topology (a cluster URL at a plain Redis, a plain URL at a cluster
node) is refused at start with `TopologyMismatch`, which the server reports and exits on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisClusterException, RedisError

from .errors import EngineError, ErrorCode, Reason, StoreUnavailable
from .redis_errors import engine_errors_from_redis
from .redis_url import CLUSTER_SCHEME, SENTINEL_SCHEME, RedisTarget, parse_redis_url
from .sharded_events import ShardedEventHub

# Shared by every client: the blocking one (BLPOP) sets socket_timeout=None instead.
_TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 5}


class TopologyMismatch(EngineError):
    """The URL names a topology the Redis behind it does not have; retrying cannot help."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.FAILED_PRECONDITION, message, Reason.STORE_UNAVAILABLE)


@dataclass
class Connection:
    """The engine's clients: `redis` for commands, `blocking` for BLPOP (no read timeout)."""

    redis: Redis
    blocking: Redis
    cluster: RedisCluster | None = None  # set on Redis Cluster: sharded pub/sub needs it
    node_options: dict[str, Any] = field(default_factory=dict)  # auth for per-node links

    def sharded_events(self) -> ShardedEventHub | None:
        """On a cluster, the event feed on sharded pub/sub; None for plain pub/sub."""
        if self.cluster is None:
            return None
        return ShardedEventHub(self.cluster, self.node_options)


async def connect(url: str) -> Connection:
    """Open the clients for `url` and check the topology; `StoreUnavailable` while Redis
    does not answer (the server retries), `TopologyMismatch` when it never will fit."""
    target = parse_redis_url(url)
    auth = {"username": target.username, "password": target.password}
    if target.scheme == CLUSTER_SCHEME:
        return await _connect_cluster(target, auth)
    if target.scheme == SENTINEL_SCHEME:
        # Each master_for client asks the sentinels for the primary on every new connection
        # and drops its connections when the primary changed: failover needs no restart.
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(target.hosts), sentinel_kwargs=dict(_TIMEOUTS), **_TIMEOUTS
        )
        options: dict[str, Any] = {"db": target.db, **auth, "health_check_interval": 15}
        redis = sentinel.master_for(target.service, **options)
        blocking = sentinel.master_for(target.service, **{**options, "socket_timeout": None})
        return Connection(redis, blocking)
    redis = Redis.from_url(url, health_check_interval=15, **_TIMEOUTS)
    await _refuse_cluster_node(redis, url)
    return Connection(redis, Redis.from_url(url, socket_connect_timeout=2, socket_timeout=None))


async def _connect_cluster(target: RedisTarget, auth: dict[str, Any]) -> Connection:
    def client(socket_timeout: float | None) -> RedisCluster:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.hosts],
            socket_connect_timeout=2,
            socket_timeout=socket_timeout,
            **auth,
        )

    cluster = client(5)
    try:
        await cluster.initialize()
    except (RedisClusterException, RedisError, OSError) as exc:
        await cluster.aclose()
        if "not enabled" in str(exc).lower():
            raise TopologyMismatch(
                f"{target.url.split('@')[-1]} names a Redis Cluster, but that Redis runs "
                "without cluster mode: use redis://host:port/db for a single Redis"
            ) from None
        # No seed node answered: the same as a single Redis that is down.
        raise StoreUnavailable(f"no Redis Cluster node answered ({exc})") from None
    blocking = client(None)
    # The engine uses only commands both clients have; the types differ, not the calls.
    node_options = {**auth, **_TIMEOUTS, "health_check_interval": 15}
    return Connection(cast(Redis, cluster), cast(Redis, blocking), cluster, node_options)


async def _refuse_cluster_node(redis: Redis, url: str) -> None:
    try:
        with engine_errors_from_redis():
            info = await redis.info("cluster")
    except RedisError:
        return  # INFO renamed: cannot tell, so do not refuse
    except EngineError as exc:
        if exc.reason is Reason.STORE_ACCESS_DENIED:
            return  # INFO barred by the ACL user's rules (it is in @dangerous): cannot tell
        await redis.aclose()
        raise
    if int(info.get("cluster_enabled", 0)):
        await redis.aclose()
        host = urlsplit(url).netloc.rpartition("@")[2]
        raise TopologyMismatch(
            f"the Redis at {host} is a Redis Cluster node: use "
            f"redis+cluster://{host} so each queue is served by the node owning its slot"
        )
