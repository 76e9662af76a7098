"""RedisHuey for the bench; notify_result=True is Huey's own option for blocking result waits."""

from huey import RedisHuey
from job import REDIS_URL, run_sync

huey = RedisHuey("bench", url=REDIS_URL, notify_result=True)


@huey.task()
def job(data: dict) -> dict:
    return run_sync(data)
