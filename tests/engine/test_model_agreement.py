"""A hypothesis state machine: random operations, and Redis must agree with a plain model."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import fakeredis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from redis.asyncio import Redis
from taskqueue_server.engine.errors import EngineError
from taskqueue_server.engine.models import Lease, NewTask, Outcome, Status, Total
from taskqueue_server.engine.settings import EngineSettings
from taskqueue_server.engine.store import RedisEngine

from tests.conftest import FakeClock
from tests.support.server_process import REDIS_URL

LEASE = 10.0
TYPES = ["a", "b"]


class EngineMatchesModel(RuleBasedStateMachine):
    backend = "redis"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        prefix = f"tqmodel-{uuid.uuid4().hex[:10]}"
        if self.backend == "redis":
            client, blocking = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
        else:
            server = fakeredis.FakeServer()
            client, blocking = (
                fakeredis.FakeAsyncRedis(server=server),
                fakeredis.FakeAsyncRedis(server=server),
            )
        settings_ = EngineSettings(key_prefix=prefix, lease_seconds=LEASE, redelivery_cap=2)
        self.engine = RedisEngine(client, blocking, settings_, clock=self.clock)
        self.run(self.engine.start())
        # The model: status, type, attempts, budget, redeliveries, due time per task.
        self.status: dict[str, Status] = {}
        self.kind: dict[str, str] = {}
        self.attempts: Counter[str] = Counter()
        self.budget: dict[str, int] = {}
        self.redeliveries: Counter[str] = Counter()
        self.due: dict[str, float] = {}
        self.leases: dict[str, Lease] = {}
        self.completed_ever: Counter[str] = Counter()
        # Totals the engine must report: exactly these, and never less than last seen.
        self.totals: Counter[tuple[str, Total]] = Counter()
        self.totals_seen: dict[tuple[str, Total], int] = {}

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        async def clean() -> None:
            keys = [
                k
                async for k in self.engine.redis.scan_iter(
                    match=f"{self.engine.settings.key_prefix}:*", count=10000
                )
            ]
            if keys:
                await self.engine.redis.delete(*keys)
            await self.engine.close()

        self.run(clean())
        self.loop.close()

    @rule(kind=st.sampled_from(TYPES), delay=st.sampled_from([0, 0, 5]), retries=st.integers(0, 2))
    def enqueue(self, kind: str, delay: int, retries: int) -> None:
        [out] = self.run(
            self.engine.enqueue([NewTask(kind, {}, max_retries=retries, delay_seconds=delay)])
        )
        task_id = out.task.id
        self.kind[task_id], self.budget[task_id] = kind, retries
        self.totals[(kind, Total.ENQUEUED)] += 1
        if delay:
            self.status[task_id], self.due[task_id] = Status.SCHEDULED, self.clock.now + delay
        else:
            self.status[task_id] = Status.PENDING

    @rule(count=st.integers(1, 3))
    def claim(self, count: int) -> None:
        claimed = self.run(self.engine.claim("default", TYPES, count, "w"))
        pending = [t for t, s in self.status.items() if s == Status.PENDING]
        assert len(claimed) == min(count, len(pending))
        for c in claimed:
            task_id = c.lease.task_id
            assert self.status[task_id] == Status.PENDING
            self.status[task_id] = Status.PROCESSING
            self.attempts[task_id] += 1
            assert c.attempt == self.attempts[task_id]
            self.leases[task_id] = c.lease
            self.due[task_id] = self.clock.now + LEASE

    @precondition(lambda self: self.leases)
    @rule(data=st.data(), ok=st.booleans(), permanent=st.booleans())
    def finish(self, data: st.DataObject, ok: bool, permanent: bool) -> None:
        # Insertion order, not sorted ids: ids made in one fake millisecond sort at random,
        # and Hypothesis must replay the same draw as the same task.
        task_id = data.draw(st.sampled_from(list(self.leases)))
        lease = self.leases.pop(task_id)
        outcome = (
            Outcome(lease)
            if ok
            else Outcome(lease, error="x", permanent=permanent, retry_delay_ms=3000)
        )
        stale = self.run(self.engine.finish([outcome]))
        if self.status[task_id] != Status.PROCESSING:
            assert stale == [lease]
            return
        assert stale == []
        if ok:
            self.status[task_id] = Status.COMPLETED
        elif not permanent and self.attempts[task_id] <= self.budget[task_id]:
            self.status[task_id], self.due[task_id] = Status.RETRYING, self.clock.now + 3
        else:
            self.status[task_id] = Status.FAILED
        self.count(task_id, self.status[task_id])

    def count(self, task_id: str, status: Status) -> None:
        total = Total.RETRIED if status in (Status.RETRYING, Status.PENDING) else Total(status)
        self.totals[(self.kind[task_id], total)] += 1

    @precondition(lambda self: self.status)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        task_id = data.draw(st.sampled_from(list(self.status)))  # insertion order, as above
        try:
            self.run(self.engine.cancel(task_id))
        except EngineError:
            assert self.status[task_id] in (Status.COMPLETED, Status.FAILED)
        else:
            # Live, or already cancelled: a repeated cancel answers with the task as it is.
            assert self.status[task_id] not in (Status.COMPLETED, Status.FAILED)
            if self.status[task_id] != Status.CANCELLED:  # a repeat changes nothing, no total
                self.status[task_id] = Status.CANCELLED
                self.count(task_id, Status.CANCELLED)

    def retryable(self) -> list[str]:
        return [t for t, s in self.status.items() if s in (Status.FAILED, Status.CANCELLED)]

    @precondition(lambda self: self.retryable())
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        ended = self.retryable()
        task_id = data.draw(st.sampled_from(sorted(ended)))
        self.run(self.engine.retry(task_id))
        self.status[task_id] = Status.PENDING
        self.attempts[task_id] = self.redeliveries[task_id] = 0
        self.due.pop(task_id, None)
        self.count(task_id, Status.PENDING)

    @rule(seconds=st.sampled_from([1.0, 3.0, 6.0, LEASE + 1]))
    def advance_time(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.run(self.engine.run_due("default"))
        for task_id, status in self.status.items():
            if self.due.get(task_id, float("inf")) > self.clock.now:
                continue
            if status in (Status.SCHEDULED, Status.RETRYING):
                self.status[task_id] = Status.PENDING
            elif status == Status.PROCESSING:  # lease expired: handed back, budget kept
                self.leases.pop(task_id, None)
                self.attempts[task_id] -= 1
                self.redeliveries[task_id] += 1
                poisoned = self.redeliveries[task_id] > 2
                self.status[task_id] = Status.FAILED if poisoned else Status.PENDING
                kind = self.kind[task_id]
                self.totals[(kind, Total.FAILED if poisoned else Total.REDELIVERED)] += 1

    @invariant()
    def redis_agrees(self) -> None:
        for task_id, status in self.status.items():
            task = self.run(self.engine.get_task(task_id))
            assert task.status == status, task_id
            assert task.attempts == self.attempts[task_id]
            assert task.redeliveries == self.redeliveries[task_id]
        expected = Counter((self.kind[t], s) for t, s in self.status.items())
        stats = self.run(self.engine.stats())
        for kind, type_stats in stats.items():
            for status, n in type_stats.counts.items():
                assert n == expected[(kind, status)], (kind, status)
            for total, n in type_stats.totals.items():
                assert n == self.totals[(kind, total)], (kind, total)
                assert n >= self.totals_seen.get((kind, total), 0), (kind, total)
                self.totals_seen[(kind, total)] = n


class EmbeddedMatchesModel(EngineMatchesModel):
    backend = "embedded"


TestRealRedisMatchesModel = EngineMatchesModel.TestCase
TestEmbeddedMatchesModel = EmbeddedMatchesModel.TestCase
for case in (TestRealRedisMatchesModel, TestEmbeddedMatchesModel):
    case.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)
