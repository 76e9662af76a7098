"""The worker side of the engine: claims, leases, outcomes and the timers' due call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Generic, TypeVar

import orjson
from redis.asyncio import Redis

from .codec import claimed_tasks, text
from .events import GAP, OVERFLOW, EventFeed, Subscription
from .ids import queue_of
from .keys import QueueKeys
from .models import ClaimedTask, Lease, Outcome
from .redis_errors import engine_errors_from_redis
from .settings import EngineSettings
from .slot_waits import blpop_any

log = logging.getLogger(__name__)
T = TypeVar("T")

DUE_BATCH = 1000


class LeasingMixin:
    settings: EngineSettings
    hub: EventFeed
    redis: Redis
    _blocking: Redis
    sharded: bool  # on Redis Cluster
    _lease_ms: int

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    def now_ms(self) -> int:
        raise NotImplementedError

    async def run(self, name: str, queue: str, keys: list[str], args: list[Any]) -> Any:
        raise NotImplementedError

    async def claim(
        self,
        queue: str,
        task_types: Sequence[str],
        count: int,
        worker_id: str,
        lease_ms: int | None = None,
    ) -> list[ClaimedTask]:
        args = [self.now_ms(), lease_ms or self._lease_ms, count, worker_id, *task_types]
        # Shielded: a claim cancelled while its script ran (a worker gone, a pool stopping)
        # must still learn what Redis leased, to hand it back instead of leaving it leased
        # to nobody until the lease ends.
        call = asyncio.ensure_future(self.run("claim", queue, [self.keys(queue).lease], args))
        try:
            return claimed_tasks(queue, await asyncio.shield(call))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):  # a failed claim leased nothing
                leased = claimed_tasks(queue, await call)
                await self.release([task.lease for task in leased])
            raise

    async def wait_for_work(
        self, queues: Sequence[str], task_types: Sequence[str], seconds: float
    ) -> str | None:
        # One BLPOP over every queue's wake lists (on a cluster one per slot: slot_waits.py).
        wake_keys = {self.keys(q).wake(t): q for q in queues for t in task_types}
        with engine_errors_from_redis():
            popped = await blpop_any(self._blocking, list(wake_keys), seconds, self.sharded)
        return None if popped is None else wake_keys[text(popped[0])]

    async def poll_for_work(self, queues: Sequence[str], task_types: Sequence[str]) -> list[str]:
        # One round trip; each LPOP takes the wake-up it finds, as BLPOP would.
        wake_keys = [(q, self.keys(q).wake(t)) for q in queues for t in task_types]
        with engine_errors_from_redis():
            async with self.redis.pipeline(transaction=False) as pipe:
                for _, key in wake_keys:
                    pipe.lpop(key)
                popped = await pipe.execute()
        return list(dict.fromkeys(q for (q, _), hit in zip(wake_keys, popped, strict=True) if hit))

    async def renew_leases(
        self, leases: Sequence[Lease], lease_ms: int | None = None
    ) -> list[Lease]:
        lost: list[Lease] = []
        for queue, group in _by_queue(leases).items():
            args = [self.now_ms(), lease_ms or self._lease_ms, *_lease_args(group)]
            positions = await self.run("renew", queue, [self.keys(queue).lease], args)
            lost.extend(group[int(p) - 1] for p in positions)
        return lost

    async def finish(self, outcomes: Sequence[Outcome]) -> list[Lease]:
        stale, _ = await self.finish_and_claim(outcomes, "", (), 0, "")
        return stale

    async def finish_and_claim(
        self,
        outcomes: Sequence[Outcome],
        queue: str,
        task_types: Sequence[str],
        count: int,
        worker_id: str,
        lease_ms: int | None = None,
    ) -> tuple[list[Lease], list[ClaimedTask]]:
        stale: list[Lease] = []
        claimed: list[ClaimedTask] = []
        grouped: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in outcomes:
            grouped[queue_of(outcome.lease.task_id)].append(outcome)
        settings = self.settings
        for group_queue, group in grouped.items():
            keys = self.keys(group_queue)
            encoded = orjson.dumps([_encode_outcome(o) for o in group])
            # The claim rides with the outcomes of its own queue only (one slot per call).
            lease = lease_ms or self._lease_ms
            claim = [count, lease, worker_id, *task_types] if group_queue == queue else [0]
            args = [
                self.now_ms(),
                settings.task_ttl_seconds,
                settings.result_ttl_seconds,
                encoded,
                *claim,
            ]
            positions, flat = await self.run(
                "finish", group_queue, [keys.lease, keys.scheduled], args
            )
            stale.extend(group[int(p) - 1].lease for p in positions)
            claimed.extend(claimed_tasks(group_queue, flat))
        if count > 0 and queue not in grouped:
            claimed = await self.claim(queue, task_types, count, worker_id, lease_ms)
        return stale, claimed

    async def release(self, leases: Sequence[Lease]) -> list[Lease]:
        stale: list[Lease] = []
        for queue, group in _by_queue(leases).items():
            positions = await self.run(
                "release", queue, [self.keys(queue).lease], [self.now_ms(), *_lease_args(group)]
            )
            stale.extend(group[int(p) - 1] for p in positions)
        return stale

    async def report_progress(self, lease: Lease, progress: int, message: str) -> None:
        queue = queue_of(lease.task_id)
        args = [self.now_ms(), lease.task_id, lease.token, progress, message]
        await self.run("progress", queue, [self.keys(queue).lease], args)

    async def run_due(self, queue: str) -> float:
        keys = self.keys(queue)
        settings = self.settings
        args = [
            self.now_ms(),
            DUE_BATCH,
            settings.redelivery_cap,
            settings.task_ttl_seconds,
            settings.result_ttl_seconds,
        ]
        next_ms, promoted, reclaimed, dropped, expired = await self.run(
            "due", queue, [keys.scheduled, keys.lease], args
        )
        if int(expired):
            log.info("queue %s: %d task(s) expired before they started", queue, int(expired))
        if int(reclaimed):
            log.warning(
                "queue %s: handed back %d task(s) whose lease expired", queue, int(reclaimed)
            )
        if max(int(promoted), int(reclaimed), int(dropped), int(expired)) >= DUE_BATCH:
            return 0.0  # more is due right now
        cap = settings.max_timer_sleep_seconds
        return cap if int(next_ms) < 0 else min(cap, int(next_ms) / 1000)

    @contextlib.asynccontextmanager
    async def cancel_signals(self, queue: str) -> AsyncIterator[AsyncIterator[str]]:
        async with self.hub.subscribe(self.keys(queue).cancel_channel) as subscription:
            yield _Signals(subscription, _task_id)

    @contextlib.asynccontextmanager
    async def schedule_signals(self, queue: str) -> AsyncIterator[AsyncIterator[float]]:
        async with self.hub.subscribe(self.keys(queue).timer_channel) as subscription:
            yield _Signals(subscription, _due_time)


class _Signals(Generic[T]):
    """Decoded messages of one subscription, as an async iterator that outlives a cancelled
    wait: an async generator is closed by the first cancellation thrown into it (as
    `asyncio.timeout` around a wait does), after which every later wait would end at once."""

    def __init__(self, subscription: Subscription, decode: Callable[[bytes], T | None]) -> None:
        self._subscription = subscription
        self._decode = decode

    def __aiter__(self) -> _Signals[T]:
        return self

    async def __anext__(self) -> T:
        while True:
            value = self._decode(await self._subscription.queue.get())
            if value is not None:
                return value


def _task_id(payload: bytes) -> str | None:
    return None if payload in (GAP, OVERFLOW) else payload.decode(errors="replace")


def _due_time(payload: bytes) -> float:
    # A marker means announcements were lost: 0.0 is "due now", so timers re-check.
    return int(payload) / 1000 if payload.isdigit() else 0.0


def _by_queue(leases: Sequence[Lease]) -> dict[str, list[Lease]]:
    grouped: dict[str, list[Lease]] = defaultdict(list)
    for lease in leases:
        grouped[queue_of(lease.task_id)].append(lease)
    return grouped


def _lease_args(leases: Sequence[Lease]) -> list[Any]:
    return [value for lease in leases for value in (lease.task_id, lease.token)]


def _encode_outcome(outcome: Outcome) -> dict[str, Any]:
    encoded: dict[str, Any] = {"id": outcome.lease.task_id, "token": outcome.lease.token}
    if outcome.error:
        encoded.update(
            error=outcome.error, permanent=outcome.permanent, delay=outcome.retry_delay_ms
        )
    else:
        encoded["result"] = outcome.result_json
    return encoded
