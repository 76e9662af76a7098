"""RedisHuey for the bench; notify_result=True is Huey's own option for blocking result waits."""

import os

from huey import RedisHuey

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

huey = RedisHuey("bench", url=REDIS_URL, notify_result=True)


@huey.task()
def noop(data: dict) -> dict:
    return {"ok": True, "i": data["i"]}
