"""Waiting on wake-up lists that span Redis Cluster slots: one BLPOP per slot, first wins.

A BLPOP's keys must share a slot on a cluster (else CROSSSLOT), and the queues a server
serves live in as many slots as there are queues. So on a cluster the wake lists are grouped
by slot and each group waits in its own BLPOP (each routed to the primary owning its slot);
the first to pop answers and the rest are cancelled. A wake-up a cancelled BLPOP took just as
it was cancelled is lost, which costs that queue at most one idle wait: after a wait that
found nothing the worker looks at every queue again (worker/rotation.py).
On a single Redis this is the one BLPOP across every queue it always was.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

from redis.asyncio import Redis
from redis.crc import key_slot


def by_slot(keys: list[str]) -> list[list[str]]:
    groups: dict[int, list[str]] = defaultdict(list)
    for key in keys:
        groups[key_slot(key.encode())].append(key)
    return list(groups.values())


async def blpop_any(blocking: Redis, keys: list[str], seconds: float, sharded: bool) -> Any:
    """BLPOP over `keys`: one call, or on a cluster one per slot, the first answer wins."""
    groups = by_slot(keys) if sharded else [keys]
    if len(groups) == 1:
        return await blocking.blpop(groups[0], seconds)  # type: ignore[misc]
    waits = {asyncio.ensure_future(blocking.blpop(group, seconds)) for group in groups}  # type: ignore[arg-type]
    try:
        while waits:
            done, waits = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for wait in done:
                popped = wait.result()
                if popped is not None:
                    return popped
        return None
    finally:
        for wait in waits:
            wait.cancel()
        for wait in waits:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await wait
