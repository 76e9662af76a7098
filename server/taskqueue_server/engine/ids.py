"""Task ids: "<queue>-<32 hex>", time-ordered, and checked before any Redis key is built."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .errors import EngineError, ErrorCode

# The one definition of names and ids; the service's request checks use these too.
_QUEUE_NAME = r"[A-Za-z0-9_.]{1,64}"
QUEUE_PATTERN = re.compile(_QUEUE_NAME)
# The queue part cannot hold "-", so an id splits unambiguously at its last dash.
TASK_ID_PATTERN = re.compile(rf"({_QUEUE_NAME})-([0-9a-f]{{32}})")
TASK_TYPE_PATTERN = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


# An idempotency key with the shape of an id's suffix (12 hex digits of milliseconds, 20
# random ones: what the clients generate for every enqueue) is the suffix of its task's id
# when its time is this close to the store's clock: finding the task of such a key is then
# reading the task itself, with no <P>idem:<key> mapping to store (about 190 bytes a task).
# The window keeps ids sorted by creation as closely as the clients' clocks agree.
KEY_AS_ID_WINDOW_MS = 5 * 60 * 1000
_ID_SUFFIX = re.compile(r"[0-9a-f]{32}")


def new_task_ids(queue: str, idempotency_keys: Sequence[str], now_ms: int) -> list[str]:
    """Ids of 48 bits of milliseconds then 80 random bits: unique, and sorted by creation.

    `now_ms` is the store's clock, so ids from servers whose clocks differ still sort by
    creation. A task whose idempotency key may be its id (KEY_AS_ID_WINDOW_MS) gets that.

    One urandom call per batch, not per task: a syscall each was measurable in EnqueueBatch.
    """
    stamp = f"{queue}-{now_ms:012x}"
    noise = os.urandom(10 * len(idempotency_keys)).hex()
    return [
        key_id if (key_id := id_of_key(queue, key, now_ms)) else stamp + noise[20 * i : 20 * i + 20]
        for i, key in enumerate(idempotency_keys)
    ]


def id_of_key(queue: str, idempotency_key: str, now_ms: int | None = None) -> str:
    """The id a task of this idempotency key has if the key became its id, else "".

    With `now_ms`, only a key whose time is within KEY_AS_ID_WINDOW_MS of it (a new task's
    id); without, any key of that shape (where an existing task of the key may be).
    """
    if _ID_SUFFIX.fullmatch(idempotency_key) is None:
        return ""
    if now_ms is not None and abs(int(idempotency_key[:12], 16) - now_ms) > KEY_AS_ID_WINDOW_MS:
        return ""
    return f"{queue}-{idempotency_key}"


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
