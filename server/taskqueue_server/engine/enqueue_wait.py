"""Enqueue and wait for the outcome in one call: Enqueue's wait_seconds.

The task's event channel is subscribed before the task is stored (its id is chosen here), so
no change of it can slip by; each event is applied to the task as stored, and the terminal
one brings the result with it. A round trip costs the enqueue script (the SUBSCRIBE goes out
just before it): no read of the finished task, and no second RPC.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import orjson

from .codec import apply_event, decode_task
from .errors import TaskNotFound
from .events import GAP, OVERFLOW, Subscription
from .ids import check_queue, new_task_ids
from .models import (
    EnqueueOutcome,
    JsonObject,
    NewTask,
    Status,
    TaskRecord,
    TaskResult,
    WaitedEnqueue,
)
from .redis_errors import engine_errors_from_redis
from .watching import WatchingMixin, outcome_of


class EnqueueWaitMixin(WatchingMixin):
    def now_ms(self) -> int:
        raise NotImplementedError

    async def enqueue_as(self, tasks: Sequence[NewTask], ids: list[str]) -> list[EnqueueOutcome]:
        raise NotImplementedError

    async def enqueue_and_wait(
        self, task: NewTask, wait_seconds: float, stop: asyncio.Event
    ) -> WaitedEnqueue:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        queue = check_queue(task.queue)
        ids = new_task_ids(queue, [task.idempotency_key], self.now_ms())
        with engine_errors_from_redis():
            # Not waiting for Redis to confirm the subscription saves a round trip: the
            # SUBSCRIBE is written before the enqueue, so Redis runs it no later than the event
            # loop turn that runs the enqueue script, while the task's finish needs further
            # round trips. Were an event ever missed all the same (the claim's when the
            # enqueue handed the task to an idle slot here), the next one shows the gap and
            # the task is read, so the answer stays right (only later). The enqueue script
            # publishes no event for the new task itself: its reply is version 1.
            channel = self.keys(queue).task_events(ids[0])
            async with self.hub.subscribe(channel, confirmed=False) as sub:
                (outcome,) = await self.enqueue_as((task,), ids)
                if outcome.deduplicated:
                    # Another task holds the work; follow that one instead.
                    return await self._wait_for_existing(outcome, deadline, stop)
                if outcome.task.status.is_terminal:  # stored ended: a dependency had already failed
                    return WaitedEnqueue(outcome, None)
                return await self._wait_for_new(outcome, sub, deadline, stop)

    async def _wait_for_new(
        self, outcome: EnqueueOutcome, sub: Subscription, deadline: float, stop: asyncio.Event
    ) -> WaitedEnqueue:
        task_id = outcome.task.id
        # The task as stored, then each event applied to it; None once one went missing
        # (the task is then read when the wait ends).
        record: TaskRecord | None = outcome.task
        ended: TaskResult | None = None
        while ended is None:
            payload = await _next_or_stop(sub, deadline, stop)
            if payload is None:
                if record is not None and record.version == outcome.task.version:
                    record = None  # nothing heard: read, in case an event went by unheard
                break  # the wait is over: answer with the task as it stands
            if payload in (GAP, OVERFLOW):
                record = None  # events were lost: read what happened instead
                break
            event = orjson.loads(payload)
            if record is not None:
                # Every change bumps the version by one; any other step is a gap (read later).
                version = int(event.get("version", 0))
                record = apply_event(record, event) if version == record.version + 1 else None
            ended = outcome_of(task_id, event)
        if record is None:
            fields, data = await self.read_raw(task_id)
            if not fields:
                raise TaskNotFound(task_id)
            record = decode_task(task_id, fields, data)
        return WaitedEnqueue(EnqueueOutcome(record, False), await self._result_of(record, ended))

    async def _result_of(self, record: TaskRecord, ended: TaskResult | None) -> JsonObject | None:
        """The handler's result when `record` completed; the terminal event carries it, else
        (events lost, or a task that was already there) it is read."""
        if record.status is not Status.COMPLETED:
            return None
        if ended is not None and ended.status is Status.COMPLETED:
            return ended.result
        return (await self.get_result(record.id)).result

    async def _wait_for_existing(
        self, outcome: EnqueueOutcome, deadline: float, stop: asyncio.Event
    ) -> WaitedEnqueue:
        record = outcome.task
        async with self.watch(record.id) as watch:
            async for state in _until_stop(watch.until(deadline), stop):
                record = state  # the last state seen is the answer
        return WaitedEnqueue(
            EnqueueOutcome(record, deduplicated=True), await self._result_of(record, None)
        )


async def _next_or_stop(sub: Subscription, deadline: float, stop: asyncio.Event) -> bytes | None:
    """The next event, or None once `deadline` (event-loop time) passes or `stop` is set."""
    if stop.is_set():
        return None
    getting = asyncio.ensure_future(sub.queue.get())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        timeout = max(0.0, deadline - asyncio.get_running_loop().time())
        await asyncio.wait(
            (getting, stopping), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopping.cancel()
        if not getting.done():
            getting.cancel()
    return getting.result() if getting.done() and not getting.cancelled() else None


async def _until_stop(
    records: AsyncIterator[TaskRecord], stop: asyncio.Event
) -> AsyncIterator[TaskRecord]:
    """`records` until they end or `stop` is set."""
    while not stop.is_set():
        step = asyncio.ensure_future(anext(records))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((step, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not step.done():
                step.cancel()
                await asyncio.wait((step,))  # let the generator finish before it is closed
        if step.cancelled():
            return
        try:
            yield step.result()
        except StopAsyncIteration:
            return
