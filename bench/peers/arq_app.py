"""arq worker settings for the bench; logging at WARNING so no system logs every job."""

import os
from typing import Any

from arq.connections import RedisSettings

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


async def noop(ctx: dict[str, Any], data: dict) -> dict:
    return {"ok": True, "i": data["i"]}


class WorkerSettings:
    functions = [noop]
    redis_settings = RedisSettings.from_dsn(REDIS_URL)


LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "level": "WARNING"}},
    "loggers": {"arq": {"handlers": ["stderr"], "level": "WARNING"}},
}
