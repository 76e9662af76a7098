"""The dashboard's JSON API under /api/: reads and operators' actions, each one engine call.

Every list is one page of the engine's cursor listing, so a queue of a million tasks answers
as fast as one of ten. Actions that may touch many tasks (purge) answer a dry run with the
matching count first (purge and bulk actions: dry run); the page shows it before anything
changes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..engine.api import CallerEngine
from ..engine.errors import EngineError, ErrorCode
from ..engine.ids import check_task_type
from ..engine.models import (
    MAX_PRIORITY,
    MIN_PRIORITY,
    BulkAction,
    QueueOverview,
    Status,
    TaskFilter,
    TaskRecord,
    Total,
)
from .rest import iso, task_json
from .timeline import timeline

MAX_PAGE = 200
# What PurgeQueue removes (engine/control.py PURGED), for the dry run's count.
PURGED = (Status.PENDING, Status.SCHEDULED)
# The totals of tasks that ended, whose growth is a queue's throughput.
FINISHED = (Total.COMPLETED, Total.FAILED, Total.CANCELLED)


def queue_json(overview: QueueOverview) -> dict[str, Any]:
    """One queue: tasks per status now, per-type counts, pause state, backlog age, and
    `finished_total`, the monotonic count of tasks that ended (for throughput)."""
    counts = dict.fromkeys((status.value for status in Status), 0)
    finished = 0
    for stats in overview.counts.values():
        for status, count in stats.counts.items():
            counts[status.value] += count
        finished += sum(stats.totals.get(total, 0) for total in FINISHED)
    return {
        "name": overview.name,
        "paused": overview.paused,
        "counts": counts,
        "types": {
            kind: {status.value: count for status, count in stats.counts.items()}
            for kind, stats in sorted(overview.counts.items())
        },
        "oldest_pending_age_ms": overview.oldest_pending_age_ms,
        "finished_total": finished,
    }


async def queues(engine: CallerEngine, request: web.Request) -> web.Response:
    return web.json_response({"queues": [queue_json(q) for q in await engine.list_queues()]})


async def tasks(engine: CallerEngine, request: web.Request) -> web.Response:
    """A page of a queue's tasks, newest first; pending ones in run order within the page.
    `label=key=value` lists through that (indexed) label's index."""
    query = request.query
    status = _status(query.get("status", ""))
    task_type = query.get("type", "")
    if task_type:
        check_task_type(task_type)
    page = await engine.list_tasks(
        request.match_info["queue"],
        task_type=task_type,
        status=status,
        page_size=_int(query.get("page_size", "50"), "page_size", 1, MAX_PAGE),
        cursor=query.get("cursor", ""),
        label=_label(query.get("label", "")),
    )
    records = page.tasks
    if status is Status.PENDING:
        # What a worker claims first: higher priority, then the older id.
        records = sorted(records, key=lambda task: (-task.priority, task.id))
    return web.json_response(
        {"tasks": [task_json(task) for task in records], "next_cursor": page.next_cursor}
    )


async def task(engine: CallerEngine, request: web.Request) -> web.Response:
    record = await engine.get_task(request.match_info["task_id"])
    outcome = await engine.get_result(record.id) if record.status.is_terminal else None
    body = task_json(record)
    body.update(
        data=record.task_data,
        labels=dict(record.labels),
        redeliveries=record.redeliveries,
        depends_on=list(record.depends_on),
        timeout_seconds=record.timeout_seconds,
    )
    return web.json_response(
        {
            "task": body,
            "result": outcome.result if outcome is not None else None,
            "timeline": [{"at": iso(at), "event": what} for at, what in timeline(record)],
        }
    )


async def change_priority(engine: CallerEngine, request: web.Request) -> web.Response:
    body = await _body(request)
    priority = _int(str(body.get("priority", "")), "priority", MIN_PRIORITY, MAX_PRIORITY)
    return _task(await engine.change_priority(request.match_info["task_id"], priority))


async def cancel(engine: CallerEngine, request: web.Request) -> web.Response:
    return _task(await engine.cancel(request.match_info["task_id"]))


async def retry(engine: CallerEngine, request: web.Request) -> web.Response:
    return _task(await engine.retry(request.match_info["task_id"]))


async def delete(engine: CallerEngine, request: web.Request) -> web.Response:
    had = await engine.delete_task(request.match_info["task_id"])
    return web.json_response({"deleted": request.match_info["task_id"], "status": had.value})


async def pause(engine: CallerEngine, request: web.Request) -> web.Response:
    changed = await engine.pause_queue(request.match_info["queue"])
    return web.json_response({"paused": True, "changed": changed})


async def resume(engine: CallerEngine, request: web.Request) -> web.Response:
    changed = await engine.resume_queue(request.match_info["queue"])
    return web.json_response({"paused": False, "changed": changed})


async def purge(engine: CallerEngine, request: web.Request) -> web.Response:
    """`{"dry_run": true}` answers how many pending and scheduled tasks match; without it,
    deletes them and answers how many went."""
    body = await _body(request)
    task_type = str(body.get("type", ""))
    if task_type:
        check_task_type(task_type)
    queue = request.match_info["queue"]
    if body.get("dry_run"):
        overview = await engine.queue_overview(queue)
        matched = sum(
            stats.counts.get(status, 0)
            for kind, stats in overview.counts.items()
            if not task_type or kind == task_type
            for status in PURGED
        )
        return web.json_response({"matched": matched, "dry_run": True})
    return web.json_response({"purged": await engine.purge_queue(queue, task_type)})


async def bulk(engine: CallerEngine, request: web.Request) -> web.Response:
    """One bounded chunk of a bulk action (or, with `dry_run`, of its count); the page walks
    `next_cursor` to the end, counting first, then acting once the user confirmed the total."""
    body = await _body(request)
    try:
        action = BulkAction(str(body.get("action", "")))
    except ValueError:
        known = ", ".join(action.value for action in BulkAction)
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT, f"action must be one of {known}", field="action"
        ) from None
    status = _status(str(body.get("status", "")))
    where = TaskFilter(
        request.match_info["queue"],
        status,
        task_type=str(body.get("type", "")),
        label=_label(str(body.get("label", ""))),
    )
    page = await engine.bulk(
        action, where, dry_run=bool(body.get("dry_run")), cursor=str(body.get("cursor", ""))
    )
    return web.json_response({"matched": page.matched, "next_cursor": page.next_cursor})


def _task(record: TaskRecord) -> web.Response:
    return web.json_response({"task": task_json(record)})


def _status(value: str) -> Status | None:
    if not value:
        return None
    try:
        return Status(value)
    except ValueError:
        known = ", ".join(status.value for status in Status)
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT,
            f"unknown status {value[:40]!r}; use one of {known}",
            field="status",
        ) from None


def _label(text: str) -> tuple[str, str] | None:
    if not text:
        return None
    key, sep, value = text.partition("=")
    if not sep or not key:
        problem = f"label {text[:80]!r} is not key=value, e.g. tenant=acme"
        raise EngineError(ErrorCode.INVALID_ARGUMENT, problem, field="label")
    return key, value


def _int(value: str, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        problem = f"{name} must be an integer from {low} to {high}"
        raise EngineError(ErrorCode.INVALID_ARGUMENT, problem, field=name)
    return number


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise EngineError(ErrorCode.INVALID_ARGUMENT, "the request body must be a JSON object")
    return body
