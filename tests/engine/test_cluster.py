"""Redis Cluster and Sentinel: the slot rule of the scripts, URLs, topology checks, sharding.

The lifecycle suites run on the cluster through the `engine` fixture's "cluster" param;
these tests cover what only a cluster (or a Sentinel group) has.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources

import pytest
import redis
from taskqueue_server.engine.connection import TopologyMismatch, connect
from taskqueue_server.engine.errors import StoreUnavailable
from taskqueue_server.engine.models import NewTask, Status
from taskqueue_server.engine.redis_url import parse_redis_url
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine, engine_on

from tests.support.redis_cluster import LocalCluster, LocalSentinel
from tests.support.server_process import REDIS_URL

SCRIPTS = resources.files("taskqueue_server.engine").joinpath("scripts")
# A key or channel argument a script may pass to redis.call: a declared key, a _lib.lua
# helper or constant (each built from P), or a local holding one of those.
KEY_FORM = re.compile(
    r"KEYS\[\w+\]|[a-z]+_key\(|events_channel\(|[A-Z_]+_(?:KEY|CHANNEL)\b|key\b|lease_key\b"
    r"|seq_key\b"
)


def lua_files() -> dict[str, str]:
    return {f.name: f.read_text() for f in SCRIPTS.iterdir() if f.name.endswith(".lua")}


def test_every_key_a_script_touches_is_built_from_the_queue_prefix() -> None:
    """Redis Cluster checks only declared KEYS for CROSSSLOT; an undeclared key outside the
    queue's slot would work until that slot moved. So: every key is derived from P."""
    files = lua_files()
    lib = files["_lib.lua"]
    assert re.search(r"^local P = ARGV\[1\]$", lib, re.M)
    helpers = re.findall(
        r"^local function (\w+_(?:key|channel))\(\w+\) return (.*) end$", lib, re.M
    )
    constants = re.findall(r"^local ([A-Z_]+_(?:KEY|CHANNEL)) = (.*)$", lib, re.M)
    assert len(helpers) >= 8 and len(constants) >= 6, "the patterns must find the definitions"
    for name, body in helpers + constants:
        assert re.fullmatch(r"P \.\. '[a-z]+:?'( \.\. \w+)?", body), f"{name} = {body}"
    calls = 0
    for name, text in files.items():
        for argument in re.findall(r"redis\.call\([^,)]+,\s*([^,)]+)", text):
            calls += 1
            assert KEY_FORM.match(argument.strip()), f"{name}: redis.call(_, {argument})"
        for value in re.findall(r"local (?:key|lease_key) = ([^\n]+)", text):
            # Built by a key builder (or picked between builders), never spelled from P here.
            assert re.search(r"[a-z]+_key\(|KEYS\[", value) and "P .." not in value, (
                f"{name}: key = {value}"
            )
        for first in re.findall(r"claim_tasks\(([^,]+),", text):
            assert first.startswith("KEYS[") or first == "lease_key", f"{name}: {first}"
        for last in re.findall(r"\brequeue\([^)]*,\s*([^,)]+)\)", text):
            assert last.startswith("KEYS[") or last == "seq_key", f"{name}: {last}"
    assert calls > 50, "the pattern must find the scripts' calls"


def test_cluster_and_sentinel_urls_parse_and_bad_ones_say_why() -> None:
    target = parse_redis_url("redis+sentinel://a:1,[::1]:2/main/3")
    assert (target.hosts, target.service, target.db) == ((("a", 1), ("::1", 2)), "main", 3)
    cluster = parse_redis_url("redis+cluster://u:pw@h:7000,h:7001")
    assert (cluster.hosts, cluster.username, cluster.password) == (
        (("h", 7000), ("h", 7001)),
        "u",
        "pw",
    )
    for url, why in [
        ("redis+sentinel://h:1", "primary's name"),
        ("redis+cluster://h:1/2", "no path"),
        ("redis+cluster://h", "host:port"),
        ("redis+sentinel://h:1/m/x", "not a number"),
    ]:
        with pytest.raises(ValueError, match=why):
            parse_redis_url(url)


@pytest.mark.cluster
async def test_a_url_naming_the_wrong_topology_is_refused(redis_cluster: LocalCluster) -> None:
    plain = REDIS_URL.split("//")[1].split("/")[0]
    with pytest.raises(TopologyMismatch, match="without cluster mode"):
        await connect(f"redis+cluster://{plain}")
    node = f"127.0.0.1:{redis_cluster.ports[0]}"
    with pytest.raises(TopologyMismatch, match=f"redis\\+cluster://{node}"):
        await connect(f"redis://{node}/0")


@pytest.fixture
async def cluster_engine(
    redis_cluster: LocalCluster, engine_settings: EngineSettings
) -> RedisEngine:
    store = engine_on(await connect(redis_cluster.url), engine_settings)
    await store.start()
    yield store  # type: ignore[misc]
    await store.close()


@pytest.mark.cluster
async def test_queues_spread_over_shards_and_stats_gather_from_every_one(
    cluster_engine: RedisEngine, redis_cluster: LocalCluster
) -> None:
    queues = [f"q{i}" for i in range(12)]
    for queue in queues:
        await cluster_engine.enqueue([NewTask("t", {}, queue=queue)] * 2)
    owners = {redis_cluster.primary_of(cluster_engine.keys(q).seq) for q in queues}
    assert len(owners) == 3, "twelve queues land on every primary"
    assert set(queues) <= set(await cluster_engine.queues())
    assert (await cluster_engine.stats())["t"].counts[Status.PENDING] == 24
    claimed = await cluster_engine.claim("q7", ["t"], 5, "w")
    processing = (await cluster_engine.stats("q7"))["t"].counts[Status.PROCESSING]
    assert len(claimed) == 2 and processing == 2


@pytest.mark.cluster
async def test_watchers_subscribe_on_the_shard_that_owns_the_queue(
    cluster_engine: RedisEngine, redis_cluster: LocalCluster
) -> None:
    [outcome] = await cluster_engine.enqueue([NewTask("t", {}, queue="watched")])
    channel = cluster_engine.keys("watched").task_events(outcome.task.id)
    owner = redis_cluster.primary_of(channel)
    async with cluster_engine.watch(outcome.task.id) as watch:
        node = redis.Redis(port=owner)
        try:
            # Sharded pub/sub on the owner; nothing on the cluster-wide (bus) channels.
            assert node.execute_command("PUBSUB", "SHARDNUMSUB", channel)[1] == 1
            assert node.execute_command("PUBSUB", "NUMSUB", channel)[1] == 0
        finally:
            node.close()
        await cluster_engine.cancel(outcome.task.id)
        states = [record.status async for record in watch]
    assert states == [Status.PENDING, Status.CANCELLED]


@pytest.mark.cluster
async def test_the_engine_runs_on_the_primary_sentinel_names(
    redis_sentinel: LocalSentinel, engine_settings: EngineSettings
) -> None:
    store = engine_on(await connect(redis_sentinel.url), engine_settings)
    await store.start()
    try:
        [outcome] = await store.enqueue([NewTask("t", {})])
        [claimed] = await store.claim("default", ["t"], 1, "w")
        assert claimed.lease.task_id == outcome.task.id
        primary = redis.Redis(port=redis_sentinel.current_primary())
        assert primary.exists(store.keys("default").task(outcome.task.id))
        primary.close()
    finally:
        await store.close()


@pytest.mark.cluster
async def test_wait_replicas_acknowledges_once_the_shard_replica_has_the_task(
    redis_cluster: LocalCluster, engine_settings: EngineSettings
) -> None:
    for replicas, confirmed in ((1, True), (2, False)):  # each shard has one replica
        settings = dataclasses.replace(engine_settings, wait_replicas=replicas)
        store = engine_on(await connect(redis_cluster.url), settings)
        await store.start()
        try:
            queues = [f"durable{i}" for i in range(6)]  # on every shard
            for queue in queues:
                if confirmed:
                    await store.enqueue([NewTask("t", {}, queue=queue)])
                else:
                    with pytest.raises(StoreUnavailable, match="1 of 2 replica"):
                        await store.enqueue([NewTask("t", {}, queue=queue)])
            # Refused or not, the primary has stored each one (a retry with the same
            # idempotency key finds it).
            assert (await store.stats())["t"].counts[Status.PENDING] == len(queues) * replicas
        finally:
            await store.close()
