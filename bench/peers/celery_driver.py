"""Celery: `celery worker` with its default prefork pool at 2 processes (= nproc here)."""

from __future__ import annotations

from importlib.metadata import version

from driver import TRIP_TIMEOUT_S, VENV_BIN, Driver, ResultKeys, bench_job_data


class CeleryDriver(Driver):
    name = "Celery"
    concurrency_note = "prefork pool, --concurrency 2 (its default on 2 cores)"

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        self.job = self.load_app("celery_app").job
        self.results = ResultKeys(self.redis)

    def worker_command(self) -> list[str]:
        return [str(VENV_BIN / "celery"), "-A", "celery_app", "worker",
                "--pool", "prefork", "--concurrency", "2", "--loglevel", "WARNING"]

    def reset(self) -> None:
        self.results.clear()

    def enqueue_one(self, i: int) -> None:
        job = self.job.delay(bench_job_data(i))
        self.results.add(f"celery-task-meta-{job.id}")

    def done_count(self) -> int:
        return self.results.count()

    def trip(self) -> object:
        return self.job.delay(bench_job_data(0)).get(timeout=TRIP_TIMEOUT_S)

    def versions(self) -> dict[str, str]:
        return {"celery": version("celery"), "kombu": version("kombu")}
