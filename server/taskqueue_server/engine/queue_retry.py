"""A queue's default retry policy: deployment state in Redis, one key under the queue's prefix.

Every server and every remote worker's FailTask reads the same value (a short cache in
worker/retry_policies.py). Setting or clearing is one command (SET or DEL), so it needs no
script. The value is trusted: the service validated it as it validates a task's own policy.
"""

from __future__ import annotations

import orjson
from redis.asyncio import Redis

from .codec import retry_override
from .ids import check_queue
from .keys import QueueKeys
from .redis_errors import engine_errors_from_redis
from .settings import RetryOverride


class QueueRetryMixin:
    redis: Redis

    def keys(self, queue: str) -> QueueKeys:
        raise NotImplementedError

    async def set_queue_retry_policy(self, queue: str, policy: RetryOverride | None) -> None:
        key = self.keys(check_queue(queue)).retry_policy
        fields = policy.as_dict() if policy is not None else {}
        with engine_errors_from_redis():
            if fields:
                # The JSON a task's own policy is stored as, which codec.retry_override reads.
                await self.redis.set(key, orjson.dumps(fields).decode())
            else:
                await self.redis.delete(key)

    async def queue_retry_policy(self, queue: str) -> RetryOverride | None:
        key = self.keys(check_queue(queue)).retry_policy
        with engine_errors_from_redis():
            stored = await self.redis.get(key)
        return retry_override(stored)
