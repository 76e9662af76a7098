"""Task ids: "<queue>-<32 hex>", time-ordered, and checked before any Redis key is built."""

from __future__ import annotations

import os
import re

from .errors import EngineError, ErrorCode

# The one definition of names and ids; the service's request checks use these too.
_QUEUE_NAME = r"[A-Za-z0-9_.]{1,64}"
QUEUE_PATTERN = re.compile(_QUEUE_NAME)
# The queue part cannot hold "-", so an id splits unambiguously at its last dash.
TASK_ID_PATTERN = re.compile(rf"({_QUEUE_NAME})-([0-9a-f]{{32}})")
TASK_TYPE_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


def new_task_ids(queue: str, count: int, now_ms: int) -> list[str]:
    """Ids of 48 bits of milliseconds then 80 random bits: unique, and sorted by creation.

    `now_ms` is the store's clock, so ids from servers whose clocks differ still sort by
    creation.

    One urandom call per batch, not per task: a syscall each was measurable in EnqueueBatch.
    """
    stamp = f"{queue}-{now_ms:012x}"
    noise = os.urandom(10 * count).hex()
    return [stamp + noise[20 * i : 20 * (i + 1)] for i in range(count)]


def queue_of(task_id: str) -> str:
    """The queue a task id belongs to; INVALID_ARGUMENT for anything malformed."""
    match = TASK_ID_PATTERN.fullmatch(task_id)
    if match is None:
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT,
            f"malformed task id {task_id[:80]!r}: expected '<queue>-<32 lowercase hex digits>'",
        )
    return match.group(1)


def check_queue(queue: str) -> str:
    return _checked(QUEUE_PATTERN, queue, "invalid queue name", "use 1-64 of A-Z a-z 0-9 _ .")


def check_task_type(task_type: str) -> str:
    return _checked(
        TASK_TYPE_PATTERN, task_type, "invalid task_type", "use 1-128 of A-Z a-z 0-9 _ . : -"
    )


def _checked(pattern: re.Pattern[str], value: str, problem: str, hint: str) -> str:
    if pattern.fullmatch(value) is None:
        raise EngineError(ErrorCode.INVALID_ARGUMENT, f"{problem} {value[:80]!r}: {hint}")
    return value
