"""The worker registry: heartbeats of in-process and remote workers, for ListWorkers.

A heartbeat is one HSET of the worker's description with the time it stops counting as
live (3 of its lease periods later); listing drops the ones past that time in one script.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from redis.asyncio import Redis

from .keys import worker_registry
from .models import WorkerInfo
from .redis_errors import engine_errors_from_redis
from .scripts import Scripts
from .settings import EngineSettings

# A worker silent this many lease periods is gone.
SILENT_LEASES = 3


class WorkersMixin:
    settings: EngineSettings
    redis: Redis
    scripts: Scripts

    def now_ms(self) -> int:
        raise NotImplementedError

    async def announce_worker(self, worker: WorkerInfo) -> None:
        now = self.now_ms()
        beat = dataclasses.asdict(worker)
        beat["last_seen_ms"] = now
        beat["expires"] = now + int(SILENT_LEASES * worker.lease_seconds * 1000)
        registry = worker_registry(self.settings.key_prefix)
        with engine_errors_from_redis():
            await self.redis.hset(registry, worker.worker_id, orjson.dumps(beat).decode())  # type: ignore[misc]

    async def forget_worker(self, worker_id: str) -> None:
        registry = worker_registry(self.settings.key_prefix)
        with engine_errors_from_redis():
            await self.redis.hdel(registry, worker_id)  # type: ignore[misc]

    async def list_workers(self) -> list[WorkerInfo]:
        registry = worker_registry(self.settings.key_prefix)
        with engine_errors_from_redis():
            beats = await self.scripts.run("workers", [registry], [registry, self.now_ms()])
        workers = [_decode(orjson.loads(beat)) for beat in beats]
        return sorted(workers, key=lambda w: w.worker_id)


def _decode(beat: dict[str, Any]) -> WorkerInfo:
    return WorkerInfo(
        worker_id=str(beat["worker_id"]),
        host=str(beat["host"]),
        queues=tuple(beat["queues"]),
        task_types=tuple(beat["task_types"]),
        concurrency=int(beat["concurrency"]),
        running=int(beat["running"]),
        started_at_ms=int(beat["started_at_ms"]),
        lease_seconds=float(beat["lease_seconds"]),
        in_process=bool(beat["in_process"]),
        last_seen_ms=int(beat["last_seen_ms"]),
    )
