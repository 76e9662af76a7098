"""answers_in_order, the core of EnqueueStream, with an enqueue the test completes by hand:
answers leave in request order whatever order the tasks are stored in, reading stops at the
in-flight bound and resumes as answers leave, and what ends the reading is raised only after
every request read has been answered. (Against a real server: tests/e2e/test_enqueue_stream.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.config.settings import RequestLimits
from taskqueue_server.engine.errors import EngineError, ErrorCode, Reason
from taskqueue_server.service.enqueue_stream import answers_in_order


class HandStore:
    """An enqueue whose every call waits until the test stores that task by its type."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[pb.EnqueueResponse]] = {}

    async def enqueue(self, request: pb.EnqueueRequest) -> pb.EnqueueResponse:
        future = asyncio.get_running_loop().create_future()
        self.waiting[request.task_type] = future
        return await future

    def store(self, task_type: str) -> None:
        self.waiting.pop(task_type).set_result(pb.EnqueueResponse(task_id=f"id-{task_type}"))


def message(*task_types: str) -> pb.EnqueueStreamRequest:
    return pb.EnqueueStreamRequest(tasks=[pb.EnqueueRequest(task_type=t) for t in task_types])


async def requests_then(
    messages: list[pb.EnqueueStreamRequest], read: list[int], end: BaseException | None = None
) -> AsyncIterator[pb.EnqueueStreamRequest]:
    for item in messages:
        read.append(1)
        yield item
    if end is not None:
        raise end


async def settle() -> None:
    for _ in range(20):  # let every ready task run until it waits again
        await asyncio.sleep(0)


async def test_answers_leave_in_request_order_and_reading_stops_at_the_bound() -> None:
    store, read = HandStore(), []
    messages = [message("a", "b"), message("c", "d"), message("e", "f"), message("g")]
    answers = answers_in_order(requests_then(messages, read), store.enqueue, RequestLimits(), 4)
    first = asyncio.ensure_future(anext(answers))
    await settle()
    assert len(read) == 2, "4 tasks in flight: no third message is read"
    assert set(store.waiting) == {"a", "b", "c", "d"}
    store.store("d")
    store.store("c")  # the second message is stored first; its answer still waits
    await settle()
    assert not first.done() and len(read) == 2
    store.store("b")
    store.store("a")
    response = await first
    assert [o.enqueued.task_id for o in response.outcomes] == ["id-a", "id-b"]
    await settle()
    assert len(read) == 2, "an answer frees its room once written (the next one is asked for)"
    second = await anext(answers)
    await settle()
    assert len(read) == 3
    assert [o.enqueued.task_id for o in second.outcomes] == ["id-c", "id-d"]

    async def the_rest() -> list[list[str]]:
        return [[o.enqueued.task_id for o in r.outcomes] async for r in answers]

    rest = asyncio.ensure_future(the_rest())
    for task_type in "efg":
        await settle()
        store.store(task_type)
    assert await rest == [["id-e", "id-f"], ["id-g"]]


async def test_what_ends_the_reading_comes_after_the_answers() -> None:
    store, read = HandStore(), []
    stopping = EngineError(ErrorCode.UNAVAILABLE, "stopping", Reason.SERVER_STOPPING)
    answers = answers_in_order(
        requests_then([message("a")], read, stopping), store.enqueue, RequestLimits()
    )
    first = asyncio.ensure_future(anext(answers))
    await settle()
    store.store("a")
    assert (await first).outcomes[0].enqueued.task_id == "id-a"
    with pytest.raises(EngineError) as ended:
        await anext(answers)
    assert ended.value.reason == Reason.SERVER_STOPPING


async def test_a_refused_task_is_answered_with_its_status_and_the_others_stored() -> None:
    async def enqueue(request: pb.EnqueueRequest) -> pb.EnqueueResponse:
        if request.task_type == "bad":
            raise EngineError(ErrorCode.INVALID_ARGUMENT, "bad: no", Reason.INVALID_FIELD, "bad")
        return pb.EnqueueResponse(task_id=request.task_type)

    requests = requests_then([message("ok", "bad", "fine")], [])
    (response,) = [r async for r in answers_in_order(requests, enqueue, RequestLimits())]
    ok, bad, fine = response.outcomes
    assert (ok.enqueued.task_id, fine.enqueued.task_id) == ("ok", "fine")
    assert bad.error.code == 3 and bad.error.message == "bad: no"
    assert len(bad.error.details) == 2  # ErrorInfo and BadRequest, as a unary refusal
