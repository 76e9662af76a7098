"""Enqueue on Redis: tasks of one queue stored all or nothing by one script call, concurrent
calls of a queue merged into one round trip (coalesce.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from .api import HandOff
from .coalesce import Coalescer
from .codec import claimed_tasks, decode_reply, text
from .errors import EngineError, ErrorCode, Reason
from .flows import EnqueueGroup, encoded_policy, with_batch_dependencies
from .ids import check_queue, id_of_key, new_task_ids
from .keys import QueueKeys, queue_registry
from .models import ClaimedTask, ClaimOffer, EnqueueOutcome, NewTask, Status, TaskRecord
from .redis_errors import engine_errors_from_redis
from .settings import EngineSettings

GroupReply = list[Any]
MAX_COALESCED = 500
# Script replies carry statuses as bytes; a dict lookup is cheaper than Status(text(...)).
_STATUS = {status.value.encode(): status for status in Status}


class EnqueuingMixin:
    settings: EngineSettings
    redis: Redis
    _enqueuers: dict[str, Coalescer[EnqueueGroup, GroupReply]]
    _registered_queues: set[str]
    _hand_off: HandOff | None

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    def now_ms(self) -> int:
        raise NotImplementedError

    async def run(
        self, name: str, queue: str, keys: list[str], args: list[Any], durable: bool = False
    ) -> Any:
        raise NotImplementedError

    async def enqueue(self, tasks: Sequence[NewTask]) -> list[EnqueueOutcome]:
        if not tasks:
            return []
        return await self.enqueue_as(tasks, self._new_ids(tasks))

    async def enqueue_ids(self, tasks: Sequence[NewTask]) -> list[str]:
        """`enqueue` answering only the tasks' ids (a deduplicated task's: the existing one's).
        Building the records nobody reads was a tenth of a batch's time in the server."""
        if not tasks:
            return []
        group, items = await self._store(tasks, self._new_ids(tasks))
        return [
            text(item[2]) if int(item[0]) == 1 else task_id
            for (_, task_id), item in zip(group, items, strict=True)
        ]

    def _new_ids(self, tasks: Sequence[NewTask]) -> list[str]:
        queue = check_queue(tasks[0].queue)
        return new_task_ids(queue, [t.idempotency_key for t in tasks], self.now_ms())

    async def enqueue_as(self, tasks: Sequence[NewTask], ids: list[str]) -> list[EnqueueOutcome]:
        """`enqueue` with the ids chosen by the caller (new_task_ids of the tasks' queue), so
        it can subscribe to a task's events before the task exists."""
        group, items = await self._store(tasks, ids)
        return [
            self._outcome(task, task_id, item)
            for (task, task_id), item in zip(group, items, strict=True)
        ]

    async def _store(
        self, tasks: Sequence[NewTask], ids: list[str]
    ) -> tuple[EnqueueGroup, list[Any]]:
        """Store one group (merged with concurrent calls of the queue): it and the script's
        reply per task; raises the group's refusal."""
        queue = check_queue(tasks[0].queue)
        if any(t.queue != queue for t in tasks):
            raise EngineError(ErrorCode.INVALID_ARGUMENT, "a batch must use one queue")
        await self._register_queue(queue)
        group = with_batch_dependencies(tasks, ids)
        coalescer = self._enqueuers.get(queue)
        if coalescer is None:
            coalescer = Coalescer(lambda groups: self._store_groups(queue, groups), MAX_COALESCED)
            self._enqueuers[queue] = coalescer
        reply = await coalescer.submit(group)
        if reply[0] != 0:
            raise refusal(reply)
        return group, cast(list[Any], reply[1])

    def hand_off_to(self, pool: HandOff) -> None:
        self._hand_off = pool

    async def _store_groups(self, queue: str, groups: list[EnqueueGroup]) -> list[GroupReply]:
        now = self.now_ms()
        meta: list[list[dict[str, Any]]] = []
        data: list[bytes] = []
        ready: dict[str, int] = {}  # tasks that may be ready at once, by type
        for group in groups:
            encoded = []
            for task, task_id in group:
                data.append(orjson.dumps(task.task_data))
                item = self._meta(task, task_id, queue, now, len(data))
                if item["run_at"] == now and not task.depends_on:
                    ready[task.task_type] = ready.get(task.task_type, 0) + 1
                encoded.append(item)
            meta.append(encoded)
        offer = self._offer(queue, ready)
        claim = b"" if offer is None else orjson.dumps(
            [offer.count, offer.lease_ms, offer.worker_id, offer.task_types]
        )
        args = [now, self.settings.max_queue_length, orjson.dumps(meta), claim, *data]
        keys = self.keys(queue)
        sent = asyncio.get_running_loop().time()
        claimed: list[ClaimedTask] = []
        try:
            replies, flat = await self.run(
                "enqueue", queue, [keys.seq, keys.lease], args, durable=True
            )
            claimed = claimed_tasks(queue, flat)
        finally:
            if offer is not None and self._hand_off is not None:
                await self._hand_off.take(offer, claimed, sent)
        return cast(list[GroupReply], replies)

    def _offer(self, queue: str, ready: dict[str, int]) -> ClaimOffer | None:
        """The local pool's idle slots for the tasks this call makes ready (HandOff)."""
        if self._hand_off is None or not ready:
            return None
        return self._hand_off.offer(queue, sorted(ready), sum(ready.values()))

    def _meta(
        self, task: NewTask, task_id: str, queue: str, now: int, data_index: int
    ) -> dict[str, Any]:
        """What enqueue.lua needs of one task. Fields at their defaults are left out (the
        script fills them in): Redis decodes this JSON, and the full form took 3.7 us a task
        of its time where the short one takes 1.2 (a batch of 1,000 small tasks)."""
        meta: dict[str, Any] = {
            "id": task_id,
            "type": task.task_type,
            "d": data_index,
            "max_retries": task.max_retries,
            "run_at": self._run_at(task, now),
        }
        if task.priority:
            meta["priority"] = task.priority
        idem = task.idempotency_key
        if not idem:
            meta["kid"] = ""
        else:
            meta["idem"] = idem
            if task_id != f"{queue}-{idem}":  # else the key is the id's suffix (ids.py)
                meta["kid"] = id_of_key(queue, idem)
        if task.unique_key:
            meta["uniq"] = task.unique_key
        if task.expire_at_ms:
            meta["expire"] = task.expire_at_ms
        policy = encoded_policy(task)
        if policy:
            meta["retry"] = policy
        if task.depends_on:
            meta["deps"] = list(task.depends_on)
        if task.timeout_seconds:
            meta["timeout"] = task.timeout_seconds
        if task.labels:
            meta["labels"] = orjson.dumps(task.labels).decode()
            indexed = self.settings.indexed_labels
            meta["lx"] = [[key, value] for key, value in task.labels.items() if key in indexed]
        if task.concurrency_key:
            meta["ck"] = task.concurrency_key
        return meta

    @staticmethod
    def _run_at(task: NewTask, now: int) -> int:
        if not task.delay_seconds and not task.run_at_ms:
            return now  # most tasks: no arithmetic (a batch of 1,000 spent 2 % of it here)
        due = max(now + int(task.delay_seconds * 1000), task.run_at_ms or 0)
        return due if due > now else now

    def _outcome(self, task: NewTask, task_id: str, item: list[Any]) -> EnqueueOutcome:
        if int(item[0]) == 1:
            return EnqueueOutcome(decode_reply(text(item[2]), item[1]), deduplicated=True)
        created = int(item[2])
        record = TaskRecord(
            id=task_id,
            queue=task.queue,
            task_type=task.task_type,
            task_data=task.task_data,
            status=_STATUS[item[1]],
            priority=task.priority,
            attempts=0,
            max_retries=task.max_retries,
            created_at_ms=created,
            updated_at_ms=created,
            run_at_ms=int(item[3]),
            idempotency_key=task.idempotency_key,
            concurrency_key=task.concurrency_key,
            depends_on=task.depends_on,
            timeout_seconds=task.timeout_seconds,
            version=1,
            labels=task.labels,
            unique_key=task.unique_key,
            expire_at_ms=task.expire_at_ms,
            retry_policy=task.retry_policy,
        )
        return EnqueueOutcome(record, deduplicated=False)

    async def _register_queue(self, queue: str) -> None:
        if queue not in self._registered_queues:
            with engine_errors_from_redis():
                await self.redis.sadd(queue_registry(self.settings.key_prefix), queue)  # type: ignore[misc]
            self._registered_queues.add(queue)


def refusal(reply: GroupReply) -> EngineError:
    """The error for an enqueue group the script refused: {code, reason, field, message}."""
    field, message = text(reply[2]), text(reply[3])
    return EngineError(
        ErrorCode(int(reply[0])),
        f"{field}: {message}" if field else message,
        Reason(text(reply[1])),
        field,
    )
