"""ListTasks and Stats: reads over the status indexes and counters, plus index upkeep."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

import orjson
from redis.asyncio import Redis

from .codec import decode_task
from .errors import EngineError, ErrorCode, Reason, StoreUnavailable
from .ids import check_queue
from .keys import QueueKeys, page_token_secret
from .models import Page, Status, TaskRecord, Total, TypeStats
from .redis_errors import engine_errors_from_redis
from .settings import EngineSettings

# A type filter may skip many tasks; bound the work one page may do.
MAX_SCANNED_PER_PAGE = 5000
SECRET_BYTES = 32


class ListingMixin:
    redis: Redis
    settings: EngineSettings
    _page_token_secret = b""  # empty until _load_page_token_secret has read it

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    async def queues(self) -> list[str]:
        raise NotImplementedError

    async def run(
        self, name: str, queue: str, keys: list[str], args: list[Any], durable: bool = False
    ) -> Any:
        raise NotImplementedError

    async def list_tasks(
        self,
        queue: str,
        task_type: str = "",
        status: Status | None = None,
        page_size: int = 100,
        cursor: str = "",
        label: tuple[str, str] | None = None,
    ) -> Page:
        keys = self.keys(check_queue(queue))
        if not self._page_token_secret:
            with engine_errors_from_redis():
                await self._load_page_token_secret()
        scope = [queue, task_type, status.value if status else ""]
        if label is not None:
            scope.append(self._check_indexed(label[0]) + "=" + label[1])
        after = self._open_cursor(cursor, scope) if cursor else ""
        # No filter: every status index, merged (scripts/newest.lua).
        index = keys.by_status(status.value) if status else None
        if label is not None:
            index = keys.label(*label)  # the status, if any, is filtered below
        tasks: list[TaskRecord] = []
        scanned = 0
        with engine_errors_from_redis():
            while len(tasks) < page_size and scanned < MAX_SCANNED_PER_PAGE:
                upper = f"({after}" if after else "+"
                ids = await self._newest(keys, index, upper, page_size)
                if not ids:
                    after = ""
                    break
                scanned += len(ids)
                records = await self._load(keys, index, ids)
                for task_id, record in records:
                    after = task_id
                    if record is not None and _matches(record, task_type, status):
                        tasks.append(record)
                        if len(tasks) == page_size:
                            break
            if after and len(tasks) == page_size:
                more = await self._newest(keys, index, f"({after}", 1)
                after = after if more else ""
        return Page(tasks, self._seal_cursor(scope, after) if after else "")

    async def _newest(
        self, keys: QueueKeys, index: str | None, upper: str, count: int
    ) -> list[bytes]:
        """The `count` greatest ids below `upper` in `index`, or in every status index."""
        if index is not None:
            found: list[bytes] = await self.redis.zrevrangebylex(index, upper, "-", 0, count)
            return found
        statuses = [s.value for s in Status]
        merged = await self.run("newest", keys.queue, [keys.seq], [upper, count, *statuses])
        return sorted(merged, reverse=True)[:count]

    async def _load(
        self, keys: QueueKeys, index: str | None, ids: list[bytes]
    ) -> list[tuple[str, TaskRecord | None]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for task_id in ids:
                pipe.hgetall(keys.task(task_id.decode()))
                pipe.get(keys.data(task_id.decode()))
            replies = await pipe.execute()
        hashes, data = replies[0::2], replies[1::2]
        gone = [task_id for task_id, fields in zip(ids, hashes, strict=True) if not fields]
        if gone and index is not None:
            # Retention expired these tasks; drop them from the index as we pass.
            await self.redis.zrem(index, *gone)
        return [
            (task_id.decode(), decode_task(task_id.decode(), fields, blob) if fields else None)
            for task_id, fields, blob in zip(ids, hashes, data, strict=True)
        ]

    def _check_indexed(self, name: str) -> str:
        indexed = self.settings.indexed_labels
        if name not in indexed:
            known = ", ".join(indexed) or "none"
            raise EngineError(
                ErrorCode.INVALID_ARGUMENT,
                f"label: {name!r} is not an indexed label key (indexed: {known}); "
                "start the server with --indexed-labels to filter by it",
                field="label",
            )
        return name

    def _seal_cursor(self, scope: list[str], after: str) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps([*scope, after])).rstrip(b"=")
        return (body + b"." + self._sign(body)).decode()

    def _open_cursor(self, token: str, scope: list[str]) -> str:
        body, _, signature = token.encode("utf-8", "replace").partition(b".")
        if not hmac.compare_digest(signature, self._sign(body)):
            raise EngineError(
                ErrorCode.INVALID_ARGUMENT,
                "invalid page_token: not one this service issued",
                Reason.INVALID_PAGE_TOKEN,
                "page_token",
            )
        fields = orjson.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
        if fields[:-1] != scope:
            raise EngineError(
                ErrorCode.INVALID_ARGUMENT,
                "page_token belongs to a listing with other filters; "
                "use the same queue, task_type and status",
                Reason.INVALID_PAGE_TOKEN,
                "page_token",
            )
        return str(fields[-1])

    async def _load_page_token_secret(self) -> None:
        """The operator's secret, else the deployment's: the first server to read it makes it."""
        secret = self.settings.page_token_secret
        if secret is None:
            key = page_token_secret(self.settings.key_prefix)
            await self.redis.set(key, secrets.token_bytes(SECRET_BYTES), nx=True)
            secret = await self.redis.get(key)
        if not secret:
            raise StoreUnavailable("the page-token secret vanished from Redis while reading it")
        self._page_token_secret = secret

    def _sign(self, body: bytes) -> bytes:
        digest = hmac.new(self._page_token_secret, body, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=")

    async def stats(self, queue: str = "", task_type: str = "") -> dict[str, TypeStats]:
        queues = [check_queue(queue)] if queue else await self.queues()
        per_type: dict[str, TypeStats] = {}
        with engine_errors_from_redis():
            async with self.redis.pipeline(transaction=False) as pipe:
                for name in queues:
                    pipe.hgetall(self.keys(name).counts)
                    pipe.hgetall(self.keys(name).totals)
                replies: list[dict[bytes, bytes]] = await pipe.execute()
        for counts, totals in zip(replies[0::2], replies[1::2], strict=True):
            for kind, status, value in _fields(counts, task_type):
                per_type.setdefault(kind, TypeStats()).counts[Status(status)] += value
            for kind, total, value in _fields(totals, task_type):
                per_type.setdefault(kind, TypeStats()).totals[Total(total)] += value
        return per_type


def _fields(counters: dict[bytes, bytes], task_type: str) -> list[tuple[str, str, int]]:
    """(task type, counter name, value) of a "<name>|<type>" hash, only `task_type`'s if set."""
    out = []
    for field, value in counters.items():
        name, _, kind = field.decode().partition("|")
        if not task_type or kind == task_type:
            out.append((kind, name, int(value)))
    return out


def _matches(record: TaskRecord, task_type: str, status: Status | None) -> bool:
    return (not task_type or record.task_type == task_type) and (
        status is None or record.status == status
    )
