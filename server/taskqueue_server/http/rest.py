"""The original design's REST shapes, so its curl examples work as written:

    GET /tasks/queue/stats?task_type=send_email  ->  {"send_email": {"pending": 5, ...}}
    GET /tasks/{task_id}                         ->  {"task": {...}, "result": {...}}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ..engine.api import CallerEngine
from ..engine.errors import EngineError, ErrorCode
from ..engine.ids import check_task_type
from ..engine.models import Status, TaskRecord

HTTP_STATUS_FOR: dict[ErrorCode, int] = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.FAILED_PRECONDITION: 409,
    ErrorCode.STALE_LEASE: 409,
    ErrorCode.RESOURCE_EXHAUSTED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.ALREADY_EXISTS: 409,
}


def iso(ms: int) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat() if ms else None


def task_json(record: TaskRecord) -> dict[str, Any]:
    """The seed's task fields first (id, type, status, created_at, updated_at), then ours."""
    return {
        "id": record.id,
        "type": record.task_type,
        "status": record.status.value,
        "created_at": iso(record.created_at_ms),
        "updated_at": iso(record.updated_at_ms),
        "queue": record.queue,
        "priority": record.priority,
        "attempts": record.attempts,
        "max_retries": record.max_retries,
        "run_at": iso(record.run_at_ms),
        "started_at": iso(record.started_at_ms),
        "finished_at": iso(record.finished_at_ms),
        "error": record.last_error or None,
        "progress": record.progress,
        "progress_message": record.progress_message,
        "version": record.version,
    }


async def queue_stats(engine: CallerEngine, request: web.Request) -> web.Response:
    task_type = request.query.get("task_type", "")
    if task_type:
        check_task_type(task_type)
    stats = await engine.stats(task_type=task_type)
    return web.json_response(
        {
            kind: {status.value: type_stats.counts[status] for status in Status}
            for kind, type_stats in stats.items()
        }
    )


async def task_detail(engine: CallerEngine, request: web.Request) -> web.Response:
    record = await engine.get_task(request.match_info["task_id"])
    body: dict[str, Any] = {"task": task_json(record), "result": None}
    if record.status is Status.COMPLETED:
        body["result"] = (await engine.get_result(record.id)).result
    return web.json_response(body)


def error_response(exc: EngineError) -> web.Response:
    return web.json_response(
        {"error": exc.message, "code": exc.code.name, "reason": exc.reason.value},
        status=HTTP_STATUS_FOR[exc.code],
    )
