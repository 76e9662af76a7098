"""State every server sharing one Redis must agree on: page tokens and known task types."""

from __future__ import annotations

import asyncio

import fakeredis
import grpc
import redis
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.engine.keys import page_token_secret
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine

from tests.e2e.helpers import Driver, rpc_error
from tests.support.server_process import DEMO_HANDLERS, REDIS_URL, ServerFactory, stop_all

OLD_CONSTANT = b"taskqueue-page-token"  # the page-token secret every deployment once shared


def page(driver: Driver, token: str = "") -> pb.ListTasksResponse:
    request = pb.ListTasksRequest(queue="default", page_size=1, page_token=token)
    return driver.stub.ListTasks(request, timeout=10)


def forged_token(after: str) -> str:
    """A token for the next page after `after`, signed with the old public constant."""

    async def seal() -> str:
        forger = RedisEngine(
            fakeredis.FakeAsyncRedis(),
            fakeredis.FakeAsyncRedis(),
            EngineSettings(page_token_secret=OLD_CONSTANT),
        )
        await forger.start()
        token = forger._seal_cursor(["default", "", ""], after)
        await forger.close()
        return token

    return asyncio.run(seal())


def test_servers_accept_each_others_page_tokens_and_no_forged_ones(
    servers: ServerFactory,
) -> None:
    pair = [servers.start(handlers=[DEMO_HANDLERS]) for _ in range(2)]
    a, b = (Driver(server.target) for server in pair)
    ids = {a.enqueue("sleep", delay_seconds=3600).id for _ in range(3)}
    first = page(a)
    second = page(b, first.next_page_token)  # a token from A, read on B
    third = page(a, second.next_page_token)  # and back
    assert {t.id for p in (first, second, third) for t in p.tasks} == ids

    stored = redis.Redis.from_url(REDIS_URL).get(page_token_secret(servers.key_prefix))
    assert stored is not None and len(stored) == 32 and stored != OLD_CONSTANT
    for driver in (a, b):
        refused = rpc_error(page, driver, forged_token(first.tasks[0].id))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not one this service issued" in (refused.details() or "")
    a.close()
    b.close()
    assert stop_all(pair) == [0, 0]


def test_enqueue_accepts_the_same_types_on_every_server(servers: ServerFactory) -> None:
    bare = servers.start(handlers=[])  # B: no handlers of its own
    b = Driver(bare.target)
    nobody = rpc_error(b.enqueue, "echo", {"n": 1})
    assert nobody.code() == grpc.StatusCode.INVALID_ARGUMENT

    worker = servers.start(handlers=[DEMO_HANDLERS])  # A starts: echo is known from now on
    a = Driver(worker.target)
    task = b.enqueue("echo", {"n": 1})
    assert b.finish(task.id).status == pb.TASK_STATUS_COMPLETED  # only A can have run it

    for driver in (a, b):
        refused = rpc_error(driver.enqueue, "no_such_type", {})
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "'no_such_type'; known task types: echo, fail" in (refused.details() or "")
    a.close()
    b.close()
    assert stop_all([worker, bare]) == [0, 0]
