"""Task events and signals on Redis Cluster: sharded pub/sub, one connection per slot in use.

On a cluster the scripts SPUBLISH (scripts.py), so a message reaches only the shard that owns
its channel's slot instead of every node over the cluster bus. A channel carries its queue's
hash tag, so every channel of a queue lives in the queue's slot: one EventHub per slot, each
with one SSUBSCRIBE connection to the primary owning that slot, opened again (at the slot's
current owner) after a failover. The asyncio cluster client of redis-py 7.x has no pub/sub,
hence these plain per-node connections.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import SlotNotCoveredError

from .events import EventHub, Subscription


class ShardedPubSub(PubSub):
    """A PubSub whose (re)subscriptions are SSUBSCRIBE: redis-py 7.x's asyncio PubSub has
    no sharded commands, and its reconnect logic re-subscribes through these methods."""

    async def subscribe(self, *args: Any, **kwargs: Any) -> None:
        channels = self._normalize_keys(dict.fromkeys(args))
        await self.execute_command("SSUBSCRIBE", *channels)
        self.channels.update(channels)
        self.pending_unsubscribe_channels.difference_update(channels)

    def unsubscribe(self, *args: Any) -> Awaitable[Any]:
        channels = self._normalize_keys(dict.fromkeys(args))
        self.pending_unsubscribe_channels.update(channels)
        return self.execute_command("SUNSUBSCRIBE", *args)


class ShardedEventHub:
    """EventHub's interface over a cluster: routes each channel to its slot's hub."""

    def __init__(self, cluster: RedisCluster, node_options: dict[str, Any]) -> None:
        self._cluster = cluster
        self._node_options = node_options
        self._hubs: dict[int, EventHub] = {}

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str, confirmed: bool = True) -> AsyncIterator[Subscription]:
        slot = self._cluster.keyslot(channel)
        hub = self._hubs.get(slot)
        if hub is None:
            hub = self._hubs[slot] = EventHub(
                self._cluster,  # type: ignore[arg-type]  # unused: open_pubsub is given
                open_pubsub=lambda: self._open(channel),
            )
        async with hub.subscribe(channel, confirmed) as sub:
            yield sub

    async def publish(self, channel: str, message: bytes) -> None:
        # SPUBLISH: a sharded subscriber hears only sharded messages of its slot.
        owner = self._cluster.get_node_from_key(channel)
        await self._cluster.execute_command("SPUBLISH", channel, message, target_nodes=owner)

    def _open(self, channel: str) -> PubSub:
        """A sharded connection to the primary now owning `channel`'s slot."""
        try:
            node = self._cluster.get_node_from_key(channel)
        except SlotNotCoveredError:
            node = None
        if node is None:
            # Mid-failover the slot has no known owner: any node answers MOVED, the hub
            # retries, and by then the cluster client has learnt the new owner.
            node = self._cluster.get_random_node()
        client = Redis(host=node.host, port=int(node.port), **self._node_options)
        return ShardedPubSub(client.connection_pool)

    async def close(self) -> None:
        for hub in self._hubs.values():
            await hub.close()
