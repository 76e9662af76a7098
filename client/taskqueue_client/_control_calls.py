"""The operators' RPCs as call plans (see _calls.py), shared by both clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from taskqueue.v1 import taskqueue_pb2 as pb

from . import _convert
from ._calls import Call, _task_of
from .models import QueueInfo, Task, TaskStatus

BULK_ACTIONS = {
    "retry": pb.BULK_ACTION_RETRY,
    "cancel": pb.BULK_ACTION_CANCEL,
    "delete": pb.BULK_ACTION_DELETE,
}


@dataclass(frozen=True, slots=True)
class BulkFilter:
    """Which tasks of `queue` a bulk action takes (see BulkTasksRequest)."""

    queue: str
    status: TaskStatus | str | None = None
    task_type: str | None = None
    created_before: datetime | None = None
    label: str | None = None


def queue_from_proto(message: pb.Queue) -> QueueInfo:
    return QueueInfo(
        name=message.name,
        paused=message.paused,
        task_types=_convert.type_counts_from_proto(message.task_types),
        oldest_pending_seconds=message.oldest_pending_age.ToMilliseconds() / 1000,
    )


def list_queues() -> Call[list[QueueInfo]]:
    return Call(
        "ListQueues",
        pb.ListQueuesRequest(),
        lambda r: [queue_from_proto(queue) for queue in r.queues],
    )


def pause_queue(queue: str) -> Call[QueueInfo]:
    request = pb.PauseQueueRequest(queue=queue)
    return Call("PauseQueue", request, lambda r: queue_from_proto(r.queue))


def resume_queue(queue: str) -> Call[QueueInfo]:
    request = pb.ResumeQueueRequest(queue=queue)
    return Call("ResumeQueue", request, lambda r: queue_from_proto(r.queue))


def purge_queue(queue: str, task_type: str | None = None) -> Call[int]:
    request = pb.PurgeQueueRequest(queue=queue, task_type=task_type or "")
    return Call("PurgeQueue", request, lambda r: int(r.purged_count))


def change_priority(task_id: str, priority: int) -> Call[Task]:
    request = pb.ChangePriorityRequest(task_id=task_id, priority=priority)
    return Call("ChangePriority", request, _task_of)


def delete_task(task_id: str) -> Call[TaskStatus]:
    request = pb.DeleteTaskRequest(task_id=task_id)
    # Not retried: a retry after a lost answer would report NOT_FOUND for a deleted task.
    previous = _convert.status_from_proto
    return Call("DeleteTask", request, lambda r: previous(r.previous_status), retry_safe=False)


def bulk_tasks(
    action: str,
    where: BulkFilter,
    dry_run: bool,
    expected_count: int | None,
    page_token: str,
) -> Call[tuple[int, str]]:
    request = pb.BulkTasksRequest(
        queue=where.queue,
        action=BULK_ACTIONS[action],
        status=_convert.status_to_proto(where.status)
        if where.status
        else pb.TASK_STATUS_UNSPECIFIED,
        task_type=where.task_type or "",
        label=where.label or "",
        dry_run=dry_run,
        page_token=page_token,
    )
    if where.created_before is not None:
        request.created_before.CopyFrom(_convert.datetime_to_timestamp(where.created_before))
    if expected_count is not None:
        request.expected_count = expected_count
    # Retried only when it changes nothing, or the confirmed count guards a repeat.
    safe = dry_run or expected_count is not None
    return Call(
        "BulkTasks",
        request,
        lambda r: (int(r.matched_count), str(r.next_page_token)),
        retry_safe=safe,
    )
