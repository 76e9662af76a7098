"""EnqueueStream: the requests of one stream stored side by side, answered in request order.

Every request read becomes its own enqueue at once, so the requests in flight reach the
engine together and its coalescer merges them into shared script calls, as it does for
concurrent unary Enqueues. Answers wait in a FIFO and leave in request order. The reader
stops reading while MAX_IN_FLIGHT requests are unanswered: gRPC flow control then holds the
sender, so one fast producer cannot queue unbounded work in the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from taskqueue.v1 import taskqueue_pb2 as pb

from .status import refusal_for

MAX_IN_FLIGHT = 256  # the number docs and the proto promise

Enqueue = Callable[[pb.EnqueueRequest], Awaitable[pb.EnqueueResponse]]
Answer = asyncio.Task[pb.EnqueueStreamResponse]


async def answers_in_order(
    requests: AsyncIterator[pb.EnqueueStreamRequest],
    enqueue: Enqueue,
    max_in_flight: int = MAX_IN_FLIGHT,
) -> AsyncIterator[pb.EnqueueStreamResponse]:
    """One answer per request, in request order. An error ending `requests` (the server
    stopping) is raised after the answers of every request read before it."""
    answers: asyncio.Queue[Answer | None] = asyncio.Queue()
    room = asyncio.Semaphore(max_in_flight)
    reader = asyncio.create_task(_read(requests, enqueue, answers, room))
    try:
        while (answer := await answers.get()) is not None:
            yield await answer
            room.release()
        await reader  # raises what ended the reading, once everything read is answered
    finally:
        reader.cancel()


async def _read(
    requests: AsyncIterator[pb.EnqueueStreamRequest],
    enqueue: Enqueue,
    answers: asyncio.Queue[Answer | None],
    room: asyncio.Semaphore,
) -> None:
    try:
        while True:
            await room.acquire()
            try:
                request = await anext(requests)
            except StopAsyncIteration:
                return
            answers.put_nowait(asyncio.create_task(_answer(enqueue, request.task)))
    finally:
        answers.put_nowait(None)


async def _answer(enqueue: Enqueue, request: pb.EnqueueRequest) -> pb.EnqueueStreamResponse:
    """The stored task, or the refusal Enqueue would have ended with, as a message."""
    try:
        return pb.EnqueueStreamResponse(enqueued=await enqueue(request))
    except Exception as exc:
        status = refusal_for(exc).to_rpc_status()
        error = pb.EnqueueStreamError(code=status.code, message=status.message)
        error.details.extend(status.details)
        return pb.EnqueueStreamResponse(error=error)
