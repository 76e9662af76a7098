"""The event hub (engine/events.py): an unconfirmed subscriber hears what is sent after it
subscribed, and the UNSUBSCRIBE written after the last subscriber left never drops a
subscriber who came meanwhile."""

from __future__ import annotations

import asyncio

from redis.asyncio.cluster import RedisCluster
from taskqueue_server.engine.store import RedisEngine

DEADLINE_S = 5.0


async def test_an_unconfirmed_subscriber_hears_what_is_published_right_after(
    engine: RedisEngine,
) -> None:
    # The first subscription of a hub opens its connection; the later ones only write, while
    # the UNSUBSCRIBE of the one before may still be on its way.
    for i in range(30):
        channel = engine.keys("default").task_events(f"default-{i:032x}")
        async with engine.hub.subscribe(channel, confirmed=False) as sub:
            await engine.hub.publish(channel, b"right after")
            assert await asyncio.wait_for(sub.queue.get(), DEADLINE_S) == b"right after"


async def test_a_channel_left_and_joined_again_at_once_stays_subscribed(
    engine: RedisEngine,
) -> None:
    channel = engine.keys("default").task_events(f"default-{1:032x}")
    async with engine.hub.subscribe(channel):
        pass
    # The UNSUBSCRIBE of the one who left is still to be written as the next one joins.
    async with engine.hub.subscribe(channel) as sub:
        await asyncio.sleep(0.05)  # let every pending write go out before publishing
        await engine.hub.publish(channel, b"still here")
        assert await asyncio.wait_for(sub.queue.get(), DEADLINE_S) == b"still here"


async def test_the_last_subscriber_leaving_unsubscribes_in_redis(engine: RedisEngine) -> None:
    channel = engine.keys("default").task_events(f"default-{2:032x}")

    async def subscribers() -> int:
        if isinstance(engine.redis, RedisCluster):  # shard channels, on the slot's owner
            owner = engine.redis.get_node_from_key(channel)
            reply = await engine.redis.execute_command(
                "PUBSUB", "SHARDNUMSUB", channel, target_nodes=owner
            )
        else:
            reply = await engine.redis.execute_command("PUBSUB", "NUMSUB", channel)
        return int(reply[1])

    async with engine.hub.subscribe(channel):
        assert await subscribers() == 1
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while await subscribers() != 0:
        assert asyncio.get_running_loop().time() < deadline, "never unsubscribed"
        await asyncio.sleep(0.01)
