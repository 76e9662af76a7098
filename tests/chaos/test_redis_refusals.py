"""When a real Redis refuses a write, callers get a clear code and reason, and nothing half-stored.

Each test runs a private redis-server and a real server process on it, makes Redis refuse
the way it does in production (maxmemory, a replica after failover, failing saves, a script
that runs too long, an ACL), and checks the answer an Enqueue gets, then that it recovers.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_client import ResourceExhausted, TaskQueueClient
from taskqueue_server.engine.errors import EngineError, Reason
from taskqueue_server.engine.models import NewTask, Outcome, Status
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock
from tests.e2e.helpers import Driver, rpc_error
from tests.support.error_details import error_reason
from tests.support.server_process import ServerFactory, ServerProcess
from tests.support.waiting import wait_until

from .private_redis import PrivateRedis


@dataclass
class Setup:
    redis: PrivateRedis
    admin: redis.Redis
    server: ServerProcess
    driver: Driver

    def enqueue(self) -> pb.Task:
        return self.driver.enqueue("echo", {"n": 1}, delay_seconds=3600)

    def refusal(self) -> tuple[grpc.StatusCode, str, str]:
        """Code, ErrorInfo reason and message of an Enqueue that must be refused."""
        error = rpc_error(self.enqueue)
        return error.code(), error_reason(error), error.details() or ""

    def task_ids(self) -> list[str]:
        listing = self.driver.stub.ListTasks(pb.ListTasksRequest(page_size=1000), timeout=10)
        return sorted(task.id for task in listing.tasks)


@pytest.fixture
def setup() -> Iterator[Setup]:
    """A private Redis (no persistence of its own) and a server on it; torn down after."""
    with PrivateRedis(appendonly=False) as private, ServerFactory(redis_url=private.url) as f:
        admin = private.client()
        server = f.start()
        driver = Driver(server.target)
        try:
            yield Setup(private, admin, server, driver)
        finally:
            driver.close()
            admin.close()


def test_full_store_is_resource_exhausted_and_stores_nothing(setup: Setup) -> None:
    accepted = setup.enqueue()
    admin = setup.admin
    for filler in range(30):
        admin.set(f"filler:{filler}", "x" * 100_000)
    # Over the limit, not at its edge: freed buffers cannot make room for a small write.
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) - 1_000_000)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        admin.set("one-more", "x")
    before = setup.task_ids()

    code, reason, message = setup.refusal()
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "STORE_FULL")
    assert message == (
        "the task store is full (Redis maxmemory); nothing was stored; "
        "retry later or raise maxmemory"
    )
    with TaskQueueClient(setup.server.target, retry=None) as client:
        with pytest.raises(ResourceExhausted) as full:
            client.enqueue("echo", {})
        assert full.value.reason == "STORE_FULL"
    assert setup.task_ids() == before
    assert setup.driver.get(accepted.id).status == pb.TASK_STATUS_SCHEDULED

    admin.config_set("maxmemory", 0)
    assert setup.enqueue().status == pb.TASK_STATUS_SCHEDULED


def test_a_replica_is_unavailable_read_only(setup: Setup) -> None:
    with PrivateRedis(appendonly=False) as primary:
        setup.admin.replicaof("127.0.0.1", primary.port)
        wait_until(
            lambda: setup.admin.info("replication").get("master_link_status") == "up",
            20,
            "the private Redis replicates from the other one",
        )
        code, reason, message = setup.refusal()
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_READ_ONLY")
        assert "read-only replica" in message and "nothing was stored" in message
        setup.admin.replicaof("NO", "ONE")
    assert setup.enqueue().status == pb.TASK_STATUS_SCHEDULED


def test_failing_saves_are_unavailable_writes_failing(setup: Setup) -> None:
    accepted = setup.enqueue()
    admin = setup.admin
    # Redis refuses writes after a failed save only when save points are configured.
    admin.config_set("save", "3600 1")
    admin.config_set("stop-writes-on-bgsave-error", "yes")
    # Redis's working directory gone: the next save cannot create its file, as with a full
    # or broken disk, and Redis then refuses writes (MISCONF) until a save succeeds.
    shutil.rmtree(setup.redis.dir)
    admin.bgsave()
    wait_until(
        lambda: admin.info("persistence")["rdb_last_bgsave_status"] == "err",
        20,
        "the background save fails",
    )
    code, reason, message = setup.refusal()
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_WRITES_FAILING")
    assert "cannot save to disk" in message
    assert setup.driver.get(accepted.id).status == pb.TASK_STATUS_SCHEDULED

    admin.config_set("stop-writes-on-bgsave-error", "no")
    assert setup.enqueue().status == pb.TASK_STATUS_SCHEDULED


def test_a_script_running_too_long_is_unavailable_busy(setup: Setup) -> None:
    setup.enqueue()  # the queue is registered; the refused Enqueue meets only the script
    admin = setup.admin
    admin.config_set("busy-reply-threshold", 100)
    looping = redis.Redis.from_url(setup.redis.url)
    ended: list[BaseException] = []

    def loop_forever() -> None:
        try:
            looping.eval("while true do end", 0)
        except redis.exceptions.RedisError as exc:  # SCRIPT KILL ends it with an error
            ended.append(exc)

    runner = threading.Thread(target=loop_forever, daemon=True)
    runner.start()
    try:
        wait_until(lambda: _busy(admin), 20, "Redis answers BUSY")
        code, reason, message = setup.refusal()
        assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_BUSY")
        assert "busy running a long script" in message
    finally:
        wait_until(lambda: _script_killed(admin), 20, "SCRIPT KILL stops the loop")
        runner.join(20)
        looping.close()
    assert ended
    assert setup.enqueue().status == pb.TASK_STATUS_SCHEDULED


def test_a_command_the_acl_forbids_is_unavailable_access_denied(setup: Setup) -> None:
    """The server's Redis user loses the right to run scripts (the key-rights case is in
    tests/security/test_redis_auth.py)."""
    accepted = setup.enqueue()
    # enabled=True: redis-py would otherwise switch the user off, refusing new connections.
    setup.admin.acl_setuser("default", enabled=True, commands=["-evalsha", "-eval"])
    code, reason, message = setup.refusal()
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "STORE_ACCESS_DENIED")
    assert "Redis user, password or ACL" in message
    assert setup.driver.get(accepted.id).status == pb.TASK_STATUS_SCHEDULED
    setup.admin.acl_setuser("default", enabled=True, commands=["+evalsha", "+eval"])
    assert setup.enqueue().status == pb.TASK_STATUS_SCHEDULED


def test_scripts_flushed_from_redis_are_loaded_again(setup: Setup) -> None:
    """A Redis restarted without its script cache answers NOSCRIPT; callers never see it."""
    setup.enqueue()
    setup.admin.script_flush()
    assert setup.enqueue().status == pb.TASK_STATUS_SCHEDULED


def _busy(admin: redis.Redis) -> bool:
    try:
        admin.get("probe")
    except redis.exceptions.ResponseError as exc:
        return str(exc).startswith("BUSY")
    return False


def _script_killed(admin: redis.Redis) -> bool:
    try:
        admin.script_kill()
    except redis.exceptions.ResponseError as exc:
        return "No scripts in execution" in str(exc) or "NOTBUSY" in str(exc)
    return True


async def test_at_maxmemory_the_timers_still_end_retention_and_free_memory() -> None:
    """Task hashes have no TTL: the timers' due script deletes finished tasks when their
    retention ends. At maxmemory, where Redis refuses every write that may add memory, that
    deletion must still run (and move small results to keys of their own), or a full store
    could never drain."""
    with PrivateRedis(appendonly=False) as private:
        clock = FakeClock()
        settings = EngineSettings(key_prefix="tqoom")
        engine = RedisEngine(
            AsyncRedis.from_url(private.url), AsyncRedis.from_url(private.url), settings, clock
        )
        admin = private.client()
        await engine.start()
        try:
            stored = await engine.enqueue([NewTask("t", {"n": n}) for n in range(300)])
            claimed = await engine.claim("default", ["t"], 300, "w")
            await engine.finish([Outcome(c.lease, result_json='{"ok": 1}') for c in claimed])
            for filler in range(30):
                admin.set(f"filler:{filler}", "x" * 100_000)
            full = int(admin.info("memory")["used_memory"])
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", full - 1_000_000)
            with pytest.raises(EngineError) as refused:
                await engine.enqueue([NewTask("t", {})])
            assert refused.value.reason is Reason.STORE_FULL

            clock.advance(settings.task_ttl_seconds)
            before = int(admin.info("memory")["used_memory"])
            for _ in range(10):
                if await engine.run_due("default") > 0:
                    break  # nothing more due now
            keys = engine.keys("default")
            ids = [task.task.id for task in stored]
            assert admin.exists(*(keys.task(task_id) for task_id in ids)) == 0
            # Hashes and index entries freed, less the results' new keys: about 90 B a task.
            assert int(admin.info("memory")["used_memory"]) < before - 300 * 50
            result = await engine.get_result(ids[0])
            assert (result.status, result.result) == (Status.COMPLETED, {"ok": 1})
        finally:
            admin.config_set("maxmemory", 0)
            admin.close()
            await engine.close()
