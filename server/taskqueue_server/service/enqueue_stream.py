"""EnqueueStream: the tasks of every message read stored side by side, answered in order.

Each task of a message read becomes its own enqueue at once, so the tasks in flight reach
the engine together and its coalescer merges them into shared script calls, as it does for
concurrent unary Enqueues. Answers leave in message order. While MAX_IN_FLIGHT tasks are
unanswered the reader reads no more: gRPC flow control then holds the sender, so one fast
producer cannot queue unbounded work in the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from taskqueue.v1 import taskqueue_pb2 as pb

from ..config.settings import RequestLimits
from ..engine.errors import Reason
from .status import Refusal, refusal_for
from .validation import InvalidArgument

MAX_IN_FLIGHT = 1000  # tasks; the number the proto promises

Enqueue = Callable[[pb.EnqueueRequest], Awaitable[pb.EnqueueResponse]]
Answer = asyncio.Task[pb.EnqueueStreamResponse]


class _Room:
    """How many tasks are unanswered, and a wait for there to be room for more."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._freed = asyncio.Event()

    async def wait(self) -> None:
        while self.used >= self.limit:
            self._freed.clear()
            await self._freed.wait()

    def free(self, count: int) -> None:
        self.used -= count
        self._freed.set()


async def answers_in_order(
    requests: AsyncIterator[pb.EnqueueStreamRequest],
    enqueue: Enqueue,
    limits: RequestLimits,
    max_in_flight: int = MAX_IN_FLIGHT,
) -> AsyncIterator[pb.EnqueueStreamResponse]:
    """One response per request, in request order. An error ending `requests` (the server
    stopping) is raised after the responses to every request read before it."""
    answers: asyncio.Queue[tuple[Answer, int] | None] = asyncio.Queue()
    room = _Room(max_in_flight)
    reader = asyncio.create_task(_read(requests, enqueue, limits, answers, room))
    try:
        while (item := await answers.get()) is not None:
            answer, count = item
            yield await answer
            room.free(count)
        await reader  # raises what ended the reading, once everything read is answered
    finally:
        reader.cancel()


async def _read(
    requests: AsyncIterator[pb.EnqueueStreamRequest],
    enqueue: Enqueue,
    limits: RequestLimits,
    answers: asyncio.Queue[tuple[Answer, int] | None],
    room: _Room,
) -> None:
    try:
        while True:
            await room.wait()
            try:
                request = await anext(requests)
            except StopAsyncIteration:
                return
            count = len(request.tasks)
            room.used += count
            answers.put_nowait((asyncio.create_task(_answer(enqueue, request, limits)), count))
    finally:
        answers.put_nowait(None)


async def _answer(
    enqueue: Enqueue, request: pb.EnqueueStreamRequest, limits: RequestLimits
) -> pb.EnqueueStreamResponse:
    if len(request.tasks) > limits.max_batch_size:
        too_many = InvalidArgument(
            "tasks",
            f"{len(request.tasks)} tasks in one message; the limit is {limits.max_batch_size}",
            Reason.BATCH_TOO_LARGE,
        )
        refused = _refused(refusal_for(too_many))
        return pb.EnqueueStreamResponse(outcomes=[refused] * len(request.tasks))
    outcomes = await asyncio.gather(*(_outcome(enqueue, task) for task in request.tasks))
    return pb.EnqueueStreamResponse(outcomes=outcomes)


async def _outcome(enqueue: Enqueue, request: pb.EnqueueRequest) -> pb.EnqueueOutcome:
    """The stored task, or the refusal Enqueue would have ended with, as a message."""
    try:
        return pb.EnqueueOutcome(enqueued=await enqueue(request))
    except Exception as exc:
        return _refused(refusal_for(exc))


def _refused(refusal: Refusal) -> pb.EnqueueOutcome:
    status = refusal.to_rpc_status()
    error = pb.EnqueueStreamError(code=status.code, message=status.message)
    error.details.extend(status.details)
    return pb.EnqueueOutcome(error=error)
