"""TaskQueueService over grpc.aio: convert the request, make one engine call, convert back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, TypeVar

from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue.v1 import taskqueue_pb2_grpc as pb_grpc

from ..config.settings import RequestLimits
from ..engine.api import CallerEngine
from ..engine.errors import EngineError, ErrorCode, Reason, StoreUnavailable
from ..worker.registry import Registration
from ..worker.retry_policies import RetryPolicies
from .control import QueueControlServicer
from .convert import (
    fill_result,
    new_task_from_request,
    new_tasks_from_batch,
    result_to_proto,
    stats_to_proto,
    status_from_proto,
    task_to_proto,
)
from .enqueue_stream import answers_in_order
from .labels import parse_label_filter
from .limits import limits_from_proto, limits_to_proto
from .retry_policy import check_retry_policy, queue_retry_policy_to_proto
from .status import Context, refuses_on_error, stream_refuses_on_error
from .task_types import KnownTaskTypes
from .validation import (
    MAX_WAIT_SECONDS,
    InvalidArgument,
    check_page_size,
    check_page_token,
    check_queue,
    check_seconds,
    check_task_type,
    check_version,
    parse_task_id,
)

T = TypeVar("T")
# Answer a waiting GetResult or Enqueue this long before the caller's deadline, so the caller
# gets the task's status instead of DEADLINE_EXCEEDED.
_DEADLINE_MARGIN_SECONDS = 0.05
_WATCH_RESUME = "watch again with after_version to resume"
_ENQUEUE_RESUME = "resend the unanswered tasks with their idempotency keys"


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    """Mark a finished future's exception as seen, so asyncio does not log it as lost."""
    if not future.cancelled():
        future.exception()


class StreamSlots:
    """A cap on concurrent WatchTask streams (past it callers get RESOURCE_EXHAUSTED), and
    their end when the server stops."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0
        self.closing = asyncio.Event()

    async def until_closed(
        self, records: AsyncIterator[T], resume_hint: str = _WATCH_RESUME
    ) -> AsyncIterator[T]:
        """`records` until `closing` is set, then UNAVAILABLE: a stream never ends on its own
        before its task does, so without this a stopping server would hold every watcher
        for the whole shutdown grace; cut now, they resume elsewhere at once."""
        closed = asyncio.ensure_future(self.closing.wait())
        step: asyncio.Future[T] | None = None
        try:
            while not self.closing.is_set():
                step = asyncio.ensure_future(records.__anext__())
                await asyncio.wait((step, closed), return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    await asyncio.wait((step,))
                    break
                try:
                    record = step.result()
                except StopAsyncIteration:
                    return
                yield record
        finally:
            closed.cancel()
            if step is not None:
                # Closed from outside (the call ended) while a read was pending: that read
                # may still end, with StopAsyncIteration or the call's error; nobody awaits it.
                step.cancel()
                step.add_done_callback(_ignore_outcome)
        raise EngineError(
            ErrorCode.UNAVAILABLE,
            f"the server is shutting down; {resume_hint}",
            Reason.SERVER_STOPPING,
        )

    def try_acquire(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use -= 1


class TaskQueueServicer(QueueControlServicer, pb_grpc.TaskQueueServiceServicer):
    """The RPCs of taskqueue.v1.TaskQueueService. Holds no state beyond its collaborators."""

    def __init__(
        self,
        engine: CallerEngine | None,
        registrations: Mapping[str, Registration],
        limits: RequestLimits,
        max_watch_streams: int = 10_000,
        retry_policies: RetryPolicies | None = None,
    ) -> None:
        self._engine = engine
        self._retry_policies = retry_policies  # the workers' cache of queue defaults
        self._registrations = registrations
        self._limits = limits
        self.watch_slots = StreamSlots(max_watch_streams)
        self.task_types = KnownTaskTypes(registrations, limits.accept_unknown_types)

    def attach(self, engine: CallerEngine) -> None:
        """Serve with `engine` from now on (the server may start before Redis answers)."""
        self._engine = engine

    @property
    def engine(self) -> CallerEngine:
        engine = self._engine
        if engine is None:
            raise StoreUnavailable("not connected yet; the server keeps trying")
        return engine

    @refuses_on_error
    async def Enqueue(self, request: pb.EnqueueRequest, context: Context) -> pb.EnqueueResponse:
        return await self._enqueue(request, self._wait_seconds(request.wait_seconds, context))

    @stream_refuses_on_error
    async def EnqueueStream(
        self, requests: AsyncIterator[pb.EnqueueStreamRequest], context: Context
    ) -> AsyncGenerator[pb.EnqueueStreamResponse]:
        # The watchers' closing signal is the server's: a stopping server stops reading
        # enqueue streams too, answers what it read, then ends them with SERVER_STOPPING.
        read = self.watch_slots.until_closed(requests, _ENQUEUE_RESUME)
        async for answer in answers_in_order(read, self._enqueue_streamed, self._limits):
            yield answer

    async def _enqueue_streamed(self, request: pb.EnqueueRequest) -> pb.EnqueueResponse:
        # A waiting task would hold back the answers behind it: the stream only stores.
        if request.wait_seconds:
            raise InvalidArgument("wait_seconds", "only unary Enqueue waits; must be 0 on a stream")
        return await self._enqueue(request, 0.0)

    async def _enqueue(self, request: pb.EnqueueRequest, wait: float) -> pb.EnqueueResponse:
        task = new_task_from_request(request, self._limits, self._registrations)
        await self.task_types.require(self.engine, {"task_type": task.task_type})
        result = None
        if wait:
            # Stopping answers at once: the task is stored, the caller learns so now.
            waited = await self.engine.enqueue_and_wait(task, wait, self.watch_slots.closing)
            outcome, result = waited.outcome, waited.result
        else:
            (outcome,) = await self.engine.enqueue((task,))
        # A deduplicated task holds the first caller's data, not this request's.
        data = None if outcome.deduplicated else request.task_data
        response = pb.EnqueueResponse(
            task_id=outcome.task.id,
            task=task_to_proto(outcome.task, data),
            deduplicated=outcome.deduplicated,
        )
        if result is not None:
            fill_result(response.result, result)
        return response

    @refuses_on_error
    async def EnqueueBatch(
        self, request: pb.EnqueueBatchRequest, context: Context
    ) -> pb.EnqueueBatchResponse:
        tasks = new_tasks_from_batch(request, self._limits, self._registrations)
        types = {f"tasks[{i}].task_type": task.task_type for i, task in enumerate(tasks)}
        await self.task_types.require(self.engine, types)
        if request.ids_only:
            return pb.EnqueueBatchResponse(task_ids=await self.engine.enqueue_ids(tasks))
        outcomes = await self.engine.enqueue(tasks)
        ids = [o.task.id for o in outcomes]
        return pb.EnqueueBatchResponse(
            task_ids=ids,
            tasks=[
                task_to_proto(o.task, None if o.deduplicated else item.task_data)
                for o, item in zip(outcomes, request.tasks, strict=True)
            ],
        )

    @refuses_on_error
    async def GetTask(self, request: pb.GetTaskRequest, context: Context) -> pb.GetTaskResponse:
        parse_task_id(request.task_id)
        record = await self.engine.get_task(request.task_id)
        return pb.GetTaskResponse(task=task_to_proto(record))

    @refuses_on_error
    async def GetResult(
        self, request: pb.GetResultRequest, context: Context
    ) -> pb.GetResultResponse:
        parse_task_id(request.task_id)
        wait = self._wait_seconds(request.wait_seconds, context)
        result = await self.engine.get_result(request.task_id, wait)
        return result_to_proto(result)

    @staticmethod
    def _wait_seconds(asked: float, context: Context) -> float:
        """A call's wait_seconds, checked, and ending before the caller's deadline."""
        wait = check_seconds(asked, "wait_seconds", MAX_WAIT_SECONDS)
        remaining = context.time_remaining()
        if wait and remaining is not None:
            wait = max(0.0, min(wait, remaining - _DEADLINE_MARGIN_SECONDS))
        return wait

    @stream_refuses_on_error
    async def WatchTask(
        self, request: pb.WatchTaskRequest, context: Context
    ) -> AsyncGenerator[pb.WatchTaskResponse]:
        if not self.watch_slots.try_acquire():
            raise EngineError(
                ErrorCode.RESOURCE_EXHAUSTED,
                f"this server already serves {self.watch_slots.limit} WatchTask streams; "
                "retry later, or use GetResult with wait_seconds",
                Reason.TOO_MANY_WATCHERS,
            )
        try:
            parse_task_id(request.task_id)
            after = check_version(request.after_version, "after_version")
            async with self.engine.watch(request.task_id) as watch:
                async for record in self.watch_slots.until_closed(aiter(watch)):
                    # Versions only go up, so a resuming caller misses nothing newer.
                    if record.version > after:
                        yield pb.WatchTaskResponse(task=task_to_proto(record))
        finally:
            self.watch_slots.release()

    @refuses_on_error
    async def CancelTask(
        self, request: pb.CancelTaskRequest, context: Context
    ) -> pb.CancelTaskResponse:
        parse_task_id(request.task_id)
        record = await self.engine.cancel(request.task_id)
        return pb.CancelTaskResponse(task=task_to_proto(record))

    @refuses_on_error
    async def RetryTask(
        self, request: pb.RetryTaskRequest, context: Context
    ) -> pb.RetryTaskResponse:
        parse_task_id(request.task_id)
        record = await self.engine.retry(request.task_id)
        return pb.RetryTaskResponse(task=task_to_proto(record))

    @refuses_on_error
    async def ListTasks(
        self, request: pb.ListTasksRequest, context: Context
    ) -> pb.ListTasksResponse:
        page = await self.engine.list_tasks(
            check_queue(request.queue),
            check_task_type(request.task_type) if request.task_type else "",
            status_from_proto(request.status),
            check_page_size(request.page_size),
            check_page_token(request.page_token),
            parse_label_filter(request.label),
        )
        return pb.ListTasksResponse(
            tasks=[task_to_proto(r) for r in page.tasks], next_page_token=page.next_cursor
        )

    @refuses_on_error
    async def Stats(self, request: pb.StatsRequest, context: Context) -> pb.StatsResponse:
        stats = await self.engine.stats(
            queue=check_queue(request.queue) if request.queue else "",
            task_type=check_task_type(request.task_type) if request.task_type else "",
        )
        return stats_to_proto(stats)

    @refuses_on_error
    async def SetQueueLimits(
        self, request: pb.SetQueueLimitsRequest, context: Context
    ) -> pb.SetQueueLimitsResponse:
        limits = await self.engine.set_limits(limits_from_proto(request.limits))
        return pb.SetQueueLimitsResponse(limits=limits_to_proto(limits))

    @refuses_on_error
    async def GetQueueLimits(
        self, request: pb.GetQueueLimitsRequest, context: Context
    ) -> pb.GetQueueLimitsResponse:
        queue = check_queue(request.queue)
        task_type = check_task_type(request.task_type) if request.task_type else ""
        limits = await self.engine.get_limits(queue, task_type)
        return pb.GetQueueLimitsResponse(limits=limits_to_proto(limits))

    @refuses_on_error
    async def SetQueueRetryPolicy(
        self, request: pb.SetQueueRetryPolicyRequest, context: Context
    ) -> pb.SetQueueRetryPolicyResponse:
        queue = check_queue(request.queue)
        policy = check_retry_policy(request, "retry_policy")
        await self.engine.set_queue_retry_policy(queue, policy)
        if self._retry_policies is not None:
            self._retry_policies.forget(queue)  # this server's workers follow it at once
        return queue_retry_policy_to_proto(queue, policy, pb.SetQueueRetryPolicyResponse())

    @refuses_on_error
    async def GetQueueRetryPolicy(
        self, request: pb.GetQueueRetryPolicyRequest, context: Context
    ) -> pb.GetQueueRetryPolicyResponse:
        queue = check_queue(request.queue)
        policy = await self.engine.queue_retry_policy(queue)
        return queue_retry_policy_to_proto(queue, policy, pb.GetQueueRetryPolicyResponse())
