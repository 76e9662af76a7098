"""arq: `arq arq_app.WorkerSettings`, one asyncio process at its default max_jobs=10."""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from arq import create_pool
from arq.connections import RedisSettings
from driver import TRIP_TIMEOUT_S, VENV_BIN, Driver, ResultKeys, bench_job_data


class ArqDriver(Driver):
    name = "arq"
    concurrency_note = "one asyncio process, default max_jobs=10, default 0.5 s poll_delay"

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        self.loop = asyncio.new_event_loop()
        self.pool = self.loop.run_until_complete(create_pool(RedisSettings.from_dsn(redis_url)))
        self.results = ResultKeys(self.redis)

    def worker_command(self) -> list[str]:
        return [str(VENV_BIN / "arq"), "arq_app.WorkerSettings",
                "--custom-log-dict", "arq_app.LOG_CONFIG"]

    def reset(self) -> None:
        self.results.clear()

    async def _enqueue(self, i: int) -> None:
        job = await self.pool.enqueue_job("job", bench_job_data(i))
        assert job is not None
        self.results.add(f"arq:result:{job.job_id}")

    def enqueue_one(self, i: int) -> None:
        self.loop.run_until_complete(self._enqueue(i))

    def enqueue_each(self, n: int) -> None:
        # one coroutine for the whole loop, as an asyncio producer would write it
        async def each() -> None:
            for i in range(n):
                await self._enqueue(i)

        self.loop.run_until_complete(each())

    def done_count(self) -> int:
        return self.results.count()

    async def _trip(self) -> object:
        job = await self.pool.enqueue_job("job", bench_job_data(0))
        assert job is not None
        return await job.result(timeout=TRIP_TIMEOUT_S)

    def trip(self) -> object:
        return self.loop.run_until_complete(self._trip())

    def close(self) -> None:
        super().close()
        self.loop.run_until_complete(self.pool.aclose())
        self.loop.close()

    def versions(self) -> dict[str, str]:
        return {"arq": version("arq")}
