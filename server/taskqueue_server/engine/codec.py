"""Task hashes as Redis stores them <-> TaskRecord."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from .models import ClaimedTask, Lease, Status, TaskRecord
from .settings import RetryOverride


def decode_reply(task_id: str, reply: Sequence[Any]) -> TaskRecord:
    """A script's task_reply: {flat HGETALL, data}."""
    return decode_task(task_id, pairs_to_dict(reply[0]), reply[1])


def pairs_to_dict(flat: Sequence[Any]) -> dict[str, Any]:
    """A Lua HGETALL reply (a flat list) as a dict with str keys."""
    return {text(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def decode_task(task_id: str, fields: Mapping[Any, Any], data: bytes | str | None) -> TaskRecord:
    """Build a TaskRecord from a task hash (bytes or str keys and values) and its data."""
    h = {text(k): v for k, v in fields.items()}
    if data is None:
        data = h.get("data")  # small data lives in the hash (scripts/_lib.lua, INLINE_MAX)
    deps = h.get("deps")
    return TaskRecord(
        id=task_id,
        queue=task_id.rsplit("-", 1)[0],
        task_type=text(h["type"]),
        task_data=orjson.loads(data) if data else {},
        status=Status(text(h["status"])),
        priority=_int(h.get("priority")),
        attempts=_int(h.get("attempts")),
        max_retries=_int(h.get("max_retries")),
        created_at_ms=_int(h.get("created")),
        # A finished task's hash leaves these out when they equal what they default to
        # (scripts/_lib.lua, trim_finished).
        updated_at_ms=_int(h.get("updated", h.get("finished"))),
        run_at_ms=_int(h.get("run_at", h.get("created"))),
        started_at_ms=_int(h.get("started")),
        finished_at_ms=_int(h.get("finished")),
        last_error=text(h.get("error", b"")),
        progress=_int(h.get("progress")),
        progress_message=text(h.get("progress_msg", b"")),
        idempotency_key=_idempotency_key(task_id, h.get("idem")),
        depends_on=tuple(orjson.loads(deps)) if deps else (),
        timeout_seconds=float(h.get("timeout") or 0),
        concurrency_key=text(h.get("ck") or b""),
        redeliveries=_int(h.get("redeliveries")),
        version=_int(h.get("version")),
        schedule_id=text(h.get("sched", b"")),
        schedule_time_ms=_int(h.get("tick")),
        labels=orjson.loads(h["labels"]) if h.get("labels") else {},
        unique_key=text(h.get("uniq", b"")),
        expire_at_ms=_int(h.get("expire")),
        retry_policy=retry_override(h.get("retry")),
    )


def claimed_tasks(queue: str, flat: Sequence[Any]) -> list[ClaimedTask]:
    """The tasks of claim_tasks' flat reply (scripts/_claim.lua): 9 entries per task."""
    return [
        ClaimedTask(
            lease=Lease(text(flat[i]), int(flat[i + 1])),
            queue=queue,
            task_type=text(flat[i + 2]),
            task_data=orjson.loads(flat[i + 3]),
            attempt=int(flat[i + 4]),
            max_retries=int(flat[i + 5]),
            timeout_seconds=float(flat[i + 6]),
            dependency_results=orjson.loads(flat[i + 7]) if flat[i + 7] else {},
            retry_policy=retry_override(flat[i + 8]),
        )
        for i in range(0, len(flat), 9)
    ]


def retry_override(stored: Any) -> RetryOverride | None:
    """A task's stored retry policy (JSON text), None when it has none."""
    return RetryOverride.from_dict(orjson.loads(stored)) if stored else None


def text(value: Any) -> str:
    """Redis replies are bytes; Lua-decoded events are str or numbers."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    if value is None or value in (b"", ""):
        return 0
    return int(float(value))


def _idempotency_key(task_id: str, stored: bytes | str | None) -> str:
    """No field: no key; an empty one: the key is the id's suffix (engine/ids.py)."""
    if stored is None:
        return ""
    return text(stored) or task_id.rsplit("-", 1)[1]


# The hash fields a task event (scripts/_lib.lua set_status, progress, priority) may carry,
# as (TaskRecord attribute, decoder); `worker` and `seq` have no attribute, and `result` is
# the outcome, not the task.
_EVENT_FIELDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "status": ("status", lambda v: Status(text(v))),
    "updated": ("updated_at_ms", _int),
    "version": ("version", _int),
    "started": ("started_at_ms", _int),
    "finished": ("finished_at_ms", _int),
    "attempts": ("attempts", _int),
    "error": ("last_error", text),
    "run_at": ("run_at_ms", _int),
    "redeliveries": ("redeliveries", _int),
    "progress": ("progress", _int),
    "progress_msg": ("progress_message", text),
    "priority": ("priority", _int),
}
_EVENT_EXTRAS = frozenset({"worker", "seq", "result"})


def apply_event(record: TaskRecord, event: Mapping[str, Any]) -> TaskRecord | None:
    """`record` after the change `event` describes, or None when the event names a field
    this does not know (read the task instead)."""
    changes = {}
    for name, value in event.items():
        known = _EVENT_FIELDS.get(name)
        if known is None:
            if name in _EVENT_EXTRAS:
                continue
            return None
        attribute, decode = known
        changes[attribute] = decode(value)
    return dataclasses.replace(record, **changes)
