"""The asyncio client's concurrent `enqueue()` calls multiplexed over one EnqueueStream.

The stream is opened on the first enqueue and kept. Each call queues its request and waits
for its outcome. One sender packs every request queued while its previous message was being
written into the next message, so many concurrent callers share each message and its gRPC
overhead while a lone caller's request leaves at once. Outcomes come in request order, so a
FIFO of waiting futures matches them.

When the stream ends with requests unanswered (server stopped or killed, connection cut),
those callers get `StreamBroken` and resend by unary Enqueue, which gRPC retries: each
request carries an idempotency key, so a resend of one that was stored after all returns the
stored task instead of a second one. The next enqueue opens a new stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio
from taskqueue.v1 import taskqueue_pb2 as pb

from .errors import ServiceError

# Packing limits: below the server's default of 1000 tasks per message, and well below its
# default 4 MiB message limit (a larger single task still goes, alone).
MAX_TASKS_PER_MESSAGE = 500
MAX_MESSAGE_BYTES = 1024 * 1024
# How long close() waits for the server to end an idle stream before cutting it.
CLOSE_GRACE_SECONDS = 1.0
# What read() returns after the last answer; grpc-stubs does not declare it.
_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]


class StreamBroken(Exception):
    """The stream ended before answering this request, which may or may not be stored."""


class _Stream:
    """One open EnqueueStream: a sender writing queued requests in order, packed, and a
    receiver handing each outcome to the oldest waiting request."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._waiting: deque[asyncio.Future[pb.EnqueueOutcome]] = deque()
        self._outbox: deque[pb.EnqueueRequest] = deque()
        self._queued = asyncio.Event()
        self.open = True
        self.unimplemented = False
        self._closing = False
        self._sender = asyncio.create_task(self._send())
        self._receiver = asyncio.create_task(self._receive())

    def submit(self, request: pb.EnqueueRequest) -> asyncio.Future[pb.EnqueueOutcome]:
        """The future of the request's outcome; requests are written in submission order."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        self._outbox.append(request)
        self._queued.set()
        return future

    async def _send(self) -> None:
        # A failed write means the call ended; the receiver learns why and fails the waiters.
        with contextlib.suppress(Exception):
            while True:
                await self._queued.wait()
                await self._call.write(self._next_message())

    def _next_message(self) -> pb.EnqueueStreamRequest:
        """The oldest queued requests, as many as the packing limits allow (at least one)."""
        tasks = [self._outbox.popleft()]
        size = tasks[0].ByteSize()
        while self._outbox and len(tasks) < MAX_TASKS_PER_MESSAGE:
            size += self._outbox[0].ByteSize()
            if size > MAX_MESSAGE_BYTES:
                break
            tasks.append(self._outbox.popleft())
        if not self._outbox:
            self._queued.clear()
        return pb.EnqueueStreamRequest(tasks=tasks)

    async def _receive(self) -> None:
        try:
            while (answer := await self._call.read()) is not _EOF:
                for outcome in answer.outcomes:
                    future = self._waiting.popleft()
                    if not future.done():  # its caller may have given up (deadline, cancel)
                        future.set_result(outcome)
        except grpc.aio.AioRpcError as exc:
            self.unimplemented = exc.code() == grpc.StatusCode.UNIMPLEMENTED
        finally:  # ended or cut: whoever is still waiting resends
            self.open = False
            self._sender.cancel()
            self._call.cancel()
            while self._waiting:
                future = self._waiting.popleft()
                if not future.done():
                    future.set_exception(_closed() if self._closing else StreamBroken())

    async def close(self) -> None:
        """End the stream: when every request is answered, by saying so and letting the
        server end it (OK); otherwise at once, and the calls still waiting end as a unary
        call does when its client closes (CANCELLED), not resent."""
        self._closing = True
        if self.open and not self._waiting:  # so no write is in progress either
            with contextlib.suppress(Exception):
                await self._call.done_writing()
                await asyncio.wait((self._receiver,), timeout=CLOSE_GRACE_SECONDS)
        self._receiver.cancel()
        await asyncio.wait((self._sender, self._receiver))


class StreamedEnqueues:
    """Sends enqueue requests over one stream, reopened after it breaks. A server without
    EnqueueStream (UNIMPLEMENTED) turns the stream off: every request then goes unary."""

    def __init__(self, open_call: Callable[[], Any]) -> None:
        self._open_call = open_call
        self._stream: _Stream | None = None
        self._supported = True

    async def enqueue(self, request: pb.EnqueueRequest) -> pb.EnqueueOutcome:
        """The answer to `request`; raises StreamBroken when it must be resent by Enqueue."""
        stream = self._stream
        if stream is None or not stream.open:
            if stream is not None and stream.unimplemented:
                self._supported = False
            if not self._supported:
                raise StreamBroken()
            stream = self._stream = _Stream(self._open_call())
        return await stream.submit(request)

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()


def _closed() -> ServiceError:
    return ServiceError(grpc.StatusCode.CANCELLED, "the client was closed")
