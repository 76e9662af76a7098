"""Which Redis the engine talks to, from --redis-url: one node, a Cluster, or a Sentinel group.

    redis://host:port/db                          one Redis (rediss:// for TLS)
    redis+cluster://host:port,host:port           Redis Cluster: any reachable nodes seed it
    redis+sentinel://host:port,host:port/name[/db]  the primary Sentinel names `name`

Every client returned here speaks the `redis.asyncio.Redis` command set the engine uses; a
Cluster client routes each command by its key's hash slot (one queue, one slot).
A URL that names the wrong topology (a cluster URL at a plain Redis, a plain URL at a cluster
node) is refused at start with `TopologyMismatch`, which the server reports and exits on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisClusterException, RedisError

from .errors import EngineError, ErrorCode, Reason, StoreUnavailable
from .redis_errors import engine_errors_from_redis
from .sharded_events import ShardedEventHub

CLUSTER_SCHEME = "redis+cluster"
SENTINEL_SCHEME = "redis+sentinel"
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


@dataclass(frozen=True)
class RedisTarget:
    """A parsed --redis-url."""

    scheme: str
    hosts: tuple[tuple[str, int], ...]
    service: str = ""  # Sentinel's name of the primary
    db: int = 0
    username: str | None = None
    password: str | None = None
    url: str = ""


def parse_redis_url(url: str) -> RedisTarget:
    """Split a --redis-url; ValueError names what is wrong with it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in (CLUSTER_SCHEME, SENTINEL_SCHEME):
        return RedisTarget(scheme, (), url=url)
    netloc = parts.netloc.rpartition("@")[2]
    hosts = tuple(_host_port(item) for item in netloc.split(",") if item)
    if not hosts:
        raise ValueError(f"{scheme}:// needs at least one host:port")
    path = [p for p in parts.path.split("/") if p]
    service, db = "", 0
    if scheme == SENTINEL_SCHEME:
        if not path:
            raise ValueError("redis+sentinel:// needs the primary's name: .../mastername[/db]")
        service = path[0]
        db = _db(path[1]) if len(path) > 1 else 0
    elif path:
        raise ValueError("redis+cluster:// takes no path: a cluster has database 0 only")
    options = dict(parse_qsl(parts.query))
    userinfo = parts.netloc.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    return RedisTarget(
        scheme,
        hosts,
        service,
        db,
        unquote(user) or options.get("username"),
        unquote(password) or options.get("password"),
        url,
    )


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{item!r} is not host:port")
    return host.strip("[]"), int(port)


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"database {text!r} is not a number")
    return int(text)


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
        with engine_errors_from_redis():
            await cluster.initialize()
    except RedisClusterException as exc:
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
        return  # INFO renamed or barred by ACL: cannot tell, so do not refuse
    except EngineError:
        await redis.aclose()
        raise
    if int(info.get("cluster_enabled", 0)):
        await redis.aclose()
        host = urlsplit(url).netloc.rpartition("@")[2]
        raise TopologyMismatch(
            f"the Redis at {host} is a Redis Cluster node: use "
            f"redis+cluster://{host} so each queue is served by the node owning its slot"
        )
