"""The operators' RPCs of TaskQueueService: queues and task control (admin role, auth.py)."""

from __future__ import annotations

from taskqueue.v1 import taskqueue_pb2 as pb

from ..engine.api import CallerEngine
from ..engine.models import BulkAction, QueueOverview, TaskFilter
from .convert import STATUS_TO_PROTO, stats_to_proto, status_from_proto, task_to_proto
from .labels import parse_label_filter
from .status import Context, refuses_on_error
from .validation import (
    InvalidArgument,
    check_page_token,
    check_priority,
    check_queue,
    check_task_type,
    check_timestamp_ms,
    parse_task_id,
)


def required_queue(queue: str, field: str = "queue") -> str:
    """A queue control names its queue: an empty name never means "default" here."""
    if not queue:
        raise InvalidArgument(field, "a queue name is required")
    return check_queue(queue, field)


def queue_to_proto(overview: QueueOverview) -> pb.Queue:
    queue = pb.Queue(name=overview.name, paused=overview.paused)
    queue.task_types.MergeFrom(stats_to_proto(overview.counts).task_types)
    queue.oldest_pending_age.FromMilliseconds(overview.oldest_pending_age_ms)
    return queue


_ACTIONS = {
    pb.BULK_ACTION_RETRY: BulkAction.RETRY,
    pb.BULK_ACTION_CANCEL: BulkAction.CANCEL,
    pb.BULK_ACTION_DELETE: BulkAction.DELETE,
}


def task_filter(request: pb.BulkTasksRequest) -> TaskFilter:
    created_before = 0
    if request.HasField("created_before"):
        stamp = request.created_before
        created_before = check_timestamp_ms(stamp.seconds, stamp.nanos, "created_before")
    return TaskFilter(
        queue=required_queue(request.queue),
        status=status_from_proto(request.status),
        task_type=check_task_type(request.task_type) if request.task_type else "",
        created_before_ms=created_before,
        label=parse_label_filter(request.label),
    )


def bulk_action(request: pb.BulkTasksRequest) -> BulkAction:
    action = _ACTIONS.get(request.action)
    if action is None:
        raise InvalidArgument("action", "choose BULK_ACTION_RETRY, _CANCEL or _DELETE")
    return action


def expected_count(request: pb.BulkTasksRequest) -> int | None:
    if not request.HasField("expected_count"):
        return None
    if request.expected_count < 0:
        raise InvalidArgument("expected_count", f"{request.expected_count} is negative")
    return request.expected_count


class QueueControlServicer:
    """Mixed into TaskQueueServicer; each method converts, calls the engine, converts back."""

    @property
    def engine(self) -> CallerEngine:
        raise NotImplementedError

    @refuses_on_error
    async def ListQueues(
        self, request: pb.ListQueuesRequest, context: Context
    ) -> pb.ListQueuesResponse:
        overviews = await self.engine.list_queues()
        return pb.ListQueuesResponse(queues=[queue_to_proto(o) for o in overviews])

    @refuses_on_error
    async def PauseQueue(
        self, request: pb.PauseQueueRequest, context: Context
    ) -> pb.PauseQueueResponse:
        name = required_queue(request.queue)
        changed = await self.engine.pause_queue(name)
        overview = await self.engine.queue_overview(name)
        return pb.PauseQueueResponse(queue=queue_to_proto(overview), changed=changed)

    @refuses_on_error
    async def ResumeQueue(
        self, request: pb.ResumeQueueRequest, context: Context
    ) -> pb.ResumeQueueResponse:
        name = required_queue(request.queue)
        changed = await self.engine.resume_queue(name)
        overview = await self.engine.queue_overview(name)
        return pb.ResumeQueueResponse(queue=queue_to_proto(overview), changed=changed)

    @refuses_on_error
    async def PurgeQueue(
        self, request: pb.PurgeQueueRequest, context: Context
    ) -> pb.PurgeQueueResponse:
        name = required_queue(request.queue)
        task_type = check_task_type(request.task_type) if request.task_type else ""
        purged = await self.engine.purge_queue(name, task_type)
        return pb.PurgeQueueResponse(purged_count=purged)

    @refuses_on_error
    async def ChangePriority(
        self, request: pb.ChangePriorityRequest, context: Context
    ) -> pb.ChangePriorityResponse:
        parse_task_id(request.task_id)
        record = await self.engine.change_priority(
            request.task_id, check_priority(request.priority)
        )
        return pb.ChangePriorityResponse(task=task_to_proto(record))

    @refuses_on_error
    async def DeleteTask(
        self, request: pb.DeleteTaskRequest, context: Context
    ) -> pb.DeleteTaskResponse:
        parse_task_id(request.task_id)
        previous = await self.engine.delete_task(request.task_id)
        return pb.DeleteTaskResponse(previous_status=STATUS_TO_PROTO[previous])

    @refuses_on_error
    async def BulkTasks(
        self, request: pb.BulkTasksRequest, context: Context
    ) -> pb.BulkTasksResponse:
        page = await self.engine.bulk(
            bulk_action(request),
            task_filter(request),
            dry_run=request.dry_run,
            expected_count=expected_count(request),
            cursor=check_page_token(request.page_token),
        )
        return pb.BulkTasksResponse(matched_count=page.matched, next_page_token=page.next_cursor)
