"""Huey: `huey_consumer huey_app.huey -k thread -w 4`, one process with 4 worker threads."""

from __future__ import annotations

from importlib.metadata import version

from driver import TRIP_TIMEOUT_S, VENV_BIN, Driver, bench_job_data


class HueyDriver(Driver):
    name = "Huey"
    concurrency_note = "one consumer process, -k thread -w 4"

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        self.app = self.load_app("huey_app")

    def worker_command(self) -> list[str]:
        return [str(VENV_BIN / "huey_consumer"), "huey_app.huey", "-k", "thread", "-w", "4", "-q"]

    def enqueue_one(self, i: int) -> None:
        self.app.job(bench_job_data(i))

    def done_count(self) -> int:
        # results live in one hash until read; the bench never reads them during W2
        return int(self.app.huey.storage.result_store_size())

    def trip(self) -> object:
        return self.app.job(bench_job_data(0)).get(blocking=True, timeout=TRIP_TIMEOUT_S)

    def versions(self) -> dict[str, str]:
        return {"huey": version("huey")}
