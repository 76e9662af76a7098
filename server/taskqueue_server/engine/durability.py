"""Opt-in durability (--redis-wait-replicas N): an enqueue is acknowledged only once N
replicas have it.

Redis replicates asynchronously: a primary that dies right after answering takes the write
with it, and the promoted replica never had it (docs/reliability.md measures how often).
WAIT blocks until N replicas confirmed the writes of *the connection it runs on*, so it must
follow the script on the same connection of the same primary: one two-command pipeline on a
client of that node (on a cluster, the node owning the queue's slot, not a default node).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import MovedError, NoScriptError, ResponseError

from .errors import StoreUnavailable
from .redis_errors import engine_errors_from_redis
from .scripts import as_engine_error

WAIT_TIMEOUT_MS = 2000


class ReplicaWait:
    """Runs a script, then WAIT, on one connection of the primary that takes the write."""

    def __init__(
        self,
        redis: Redis,
        replicas: int,
        cluster: RedisCluster | None = None,
        node_options: dict[str, Any] | None = None,
    ) -> None:
        self._redis = redis
        self._replicas = replicas
        self._cluster = cluster
        self._node_options = node_options or {}
        self._writers: dict[str, Redis] = {}

    def _writer(self, key: str) -> Redis:
        if self._cluster is None:
            return self._redis
        node = self._cluster.get_node_from_key(key)
        assert node is not None  # the primary; a slot without one raised SlotNotCoveredError
        writer = self._writers.get(node.name)
        if writer is None:
            writer = Redis(host=node.host, port=int(node.port), **self._node_options)
            self._writers[node.name] = writer
        return writer

    async def run(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        with engine_errors_from_redis():
            for _ in range(3):
                writer = self._writer(keys[0])
                try:
                    async with writer.pipeline(transaction=False) as pipe:
                        pipe.evalsha(script.sha, len(keys), *keys, *args)
                        pipe.execute_command("WAIT", self._replicas, WAIT_TIMEOUT_MS)
                        reply, confirmed = await pipe.execute()
                except NoScriptError:
                    # A replica promoted since start-up never loaded our scripts.
                    script.sha = await writer.script_load(script.script)
                    continue
                except MovedError:
                    assert self._cluster is not None  # only a cluster node answers MOVED
                    await self._cluster.nodes_manager.initialize()
                    continue
                except ResponseError as exc:
                    raise as_engine_error(exc) from None
                if int(confirmed) < self._replicas:
                    raise StoreUnavailable(
                        f"the task was stored on the primary but {int(confirmed)} of "
                        f"{self._replicas} replica(s) confirmed it within "
                        f"{WAIT_TIMEOUT_MS} ms (--redis-wait-replicas); retry with the same "
                        "idempotency key"
                    )
                return reply
        raise StoreUnavailable("the queue's slot kept moving (Redis Cluster resharding)")

    async def close(self) -> None:
        for writer in self._writers.values():
            await writer.aclose()
