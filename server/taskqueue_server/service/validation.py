"""Request checks that need no Redis: ids, names, numbers and limits.

Every failure is an `InvalidArgument` (an `EngineError` with code INVALID_ARGUMENT) whose
message starts with the field path, e.g. "tasks[3].priority: must be between -1000 and 1000",
so one status table covers engine and service errors alike.
"""

from __future__ import annotations

import math

from ..engine.errors import EngineError, ErrorCode, Reason
from ..engine.ids import QUEUE_PATTERN, TASK_ID_PATTERN, TASK_TYPE_PATTERN
from ..engine.models import DEFAULT_QUEUE, MAX_PRIORITY, MIN_PRIORITY

MAX_CONCURRENCY_KEY_LENGTH = 128
MAX_IDEMPOTENCY_KEY_LENGTH = 200
MAX_DEPENDENCIES = 100
MAX_RETRIES_LIMIT = 1000
MAX_DELAY_SECONDS = 10 * 365 * 24 * 3600.0
MAX_TIMEOUT_SECONDS = 30 * 24 * 3600.0
MAX_WAIT_SECONDS = 3600.0
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_TOKEN_LENGTH = 4096
# google.protobuf.Timestamp's valid range ends at 9999-12-31T23:59:59Z.
MAX_TIMESTAMP_SECONDS = 253_402_300_799


class InvalidArgument(EngineError):
    """A request field the service refuses before it reaches the engine."""

    def __init__(self, field: str, problem: str, reason: Reason = Reason.INVALID_FIELD) -> None:
        message = f"{field}: {problem}" if field else problem
        super().__init__(ErrorCode.INVALID_ARGUMENT, message, reason, field)


def check_queue(queue: str, field: str = "queue") -> str:
    """The queue name, "default" when empty; letters, digits, "_" and "." only."""
    if not queue:
        return DEFAULT_QUEUE
    if not QUEUE_PATTERN.fullmatch(queue):
        raise InvalidArgument(
            field, f"{_shorten(queue)} is not a queue name (1-64 of A-Z a-z 0-9 _ .)"
        )
    return queue


def parse_task_id(task_id: str, field: str = "task_id") -> str:
    """Check a task id ("<queue>-<32 lowercase hex>") and return its queue."""
    if not task_id:
        raise InvalidArgument(field, "a task id is required")
    match = TASK_ID_PATTERN.fullmatch(task_id)
    if match is None:
        raise InvalidArgument(
            field, f"{_shorten(task_id)} is not a task id (expected <queue>-<32 lowercase hex>)"
        )
    return match.group(1)


def check_task_type(task_type: str, field: str = "task_type") -> str:
    if not task_type or not task_type.strip():
        raise InvalidArgument(field, "a task type is required")
    if not TASK_TYPE_PATTERN.fullmatch(task_type):
        raise InvalidArgument(
            field, f"{_shorten(task_type)} is not a task type (1-128 of A-Z a-z 0-9 _ . : -)"
        )
    return task_type


def check_priority(priority: int, field: str = "priority") -> int:
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidArgument(
            field, f"{priority} is out of range; use {MIN_PRIORITY} to {MAX_PRIORITY}"
        )
    return priority


def check_max_retries(max_retries: int, field: str = "max_retries") -> int:
    if not 0 <= max_retries <= MAX_RETRIES_LIMIT:
        raise InvalidArgument(field, f"{max_retries} is out of range; use 0 to {MAX_RETRIES_LIMIT}")
    return max_retries


def check_seconds(value: float, field: str, upper: float) -> float:
    """A finite, non-negative number of seconds no larger than `upper`."""
    if math.isnan(value) or math.isinf(value):
        raise InvalidArgument(field, "must be a finite number of seconds")
    if value < 0:
        raise InvalidArgument(field, f"{value:g} is negative")
    if value > upper:
        raise InvalidArgument(field, f"{value:g} is more than the limit of {upper:g} seconds")
    return value


def check_timestamp_ms(seconds: int, nanos: int, field: str) -> int:
    """A Timestamp from 1970 to 9999 as Unix milliseconds."""
    if not 0 <= nanos <= 999_999_999:
        raise InvalidArgument(field, "nanos must be between 0 and 999999999")
    if seconds < 0:
        raise InvalidArgument(field, "must not be before 1970-01-01T00:00:00Z")
    if seconds > MAX_TIMESTAMP_SECONDS:
        raise InvalidArgument(field, "must not be after 9999-12-31T23:59:59Z")
    return seconds * 1000 + nanos // 1_000_000


def check_idempotency_key(key: str, field: str = "idempotency_key") -> str:
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise InvalidArgument(
            field, f"is {len(key)} characters; the limit is {MAX_IDEMPOTENCY_KEY_LENGTH}"
        )
    return key


def check_concurrency_key(key: str, field: str = "concurrency_key") -> str:
    if len(key) > MAX_CONCURRENCY_KEY_LENGTH:
        raise InvalidArgument(
            field, f"is {len(key)} characters; the limit is {MAX_CONCURRENCY_KEY_LENGTH}"
        )
    return key


def check_depends_on(ids: list[str], queue: str, field: str = "depends_on") -> tuple[str, ...]:
    """Valid, distinct ids of tasks in the same queue as the dependent task."""
    if len(ids) > MAX_DEPENDENCIES:
        raise InvalidArgument(field, f"{len(ids)} dependencies; the limit is {MAX_DEPENDENCIES}")
    seen: dict[str, int] = {}
    for index, dep in enumerate(ids):
        item = f"{field}[{index}]"
        dep_queue = parse_task_id(dep, item)
        if dep_queue != queue:
            raise InvalidArgument(
                item,
                f"task {dep!r} is in queue {dep_queue!r}; dependencies must share "
                f"the task's queue {queue!r}",
            )
        if dep in seen:
            raise InvalidArgument(item, f"repeats {field}[{seen[dep]}]")
        seen[dep] = index
    return tuple(ids)


def check_depends_on_index(
    indexes: list[int], position: int | None, field: str = "depends_on_index"
) -> tuple[int, ...]:
    """Distinct positions of earlier tasks in the same batch; `position` None outside one."""
    if indexes and position is None:
        raise InvalidArgument(
            field, "names tasks by their position in a batch; use EnqueueBatch, or depends_on"
        )
    if len(indexes) > MAX_DEPENDENCIES:
        raise InvalidArgument(
            field, f"{len(indexes)} dependencies; the limit is {MAX_DEPENDENCIES}"
        )
    seen: dict[int, int] = {}
    for j, index in enumerate(indexes):
        item = f"{field}[{j}]"
        if position is not None and not 0 <= index < position:
            raise InvalidArgument(
                item,
                f"{index} is not an earlier task of the batch (this is task {position}); "
                "a task may depend only on tasks before it, so a batch holds no cycle",
            )
        if index in seen:
            raise InvalidArgument(item, f"repeats {field}[{seen[index]}]")
        seen[index] = j
    return tuple(indexes)


def check_version(version: int, field: str) -> int:
    if version < 0:
        raise InvalidArgument(field, f"{version} is negative; use 0 or a version received")
    return version


def check_page_size(page_size: int) -> int:
    if page_size == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"{page_size} is out of range; use 1 to {MAX_PAGE_SIZE}")
    return page_size


def check_page_token(token: str) -> str:
    # The engine verifies the signature; this only stops junk of any size reaching it.
    if len(token) > MAX_PAGE_TOKEN_LENGTH:
        raise InvalidArgument("page_token", "is not a token this server issued")
    return token


def _shorten(text: str, limit: int = 80) -> str:
    """Quote caller input in messages without echoing megabytes of it back."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    return repr(shown)
