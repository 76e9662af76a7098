"""arq worker settings for the bench; logging at WARNING so no system logs every job."""

from typing import Any

from arq.connections import RedisSettings
from job import REDIS_URL, run_async


async def job(ctx: dict[str, Any], data: dict) -> dict:
    # arq hands every job its own redis.asyncio connection pool: the usual client there
    return await run_async(data, ctx["redis"])


class WorkerSettings:
    functions = [job]
    redis_settings = RedisSettings.from_dsn(REDIS_URL)


LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "WARNING"}},
    "loggers": {"arq": {"handlers": ["stderr"], "level": "WARNING"}},
}
