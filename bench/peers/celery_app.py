"""Celery app for the bench: Redis broker and Redis result backend, JSON serializer."""

import os

from celery import Celery

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

app = Celery("bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])


@app.task(name="bench.noop")
def noop(data: dict) -> dict:
    return {"ok": True, "i": data["i"]}
