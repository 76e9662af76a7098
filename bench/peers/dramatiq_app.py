"""Dramatiq broker for the bench: RedisBroker with the Results middleware on Redis."""

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends.redis import RedisBackend
from job import REDIS_URL, run_sync

result_backend = RedisBackend(url=REDIS_URL)
broker = RedisBroker(url=REDIS_URL)
broker.add_middleware(Results(backend=result_backend))
dramatiq.set_broker(broker)


@dramatiq.actor(store_results=True, queue_name="bench", max_retries=0)
def job(data: dict) -> dict:
    return run_sync(data)
