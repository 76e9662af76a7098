"""Celery app for the bench: Redis broker and Redis result backend, JSON serializer."""

from celery import Celery
from job import REDIS_URL, run_sync

app = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])


@app.task(name="bench.job")
def job(data: dict) -> dict:
    return run_sync(data)
