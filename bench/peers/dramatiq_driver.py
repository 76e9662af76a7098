"""Dramatiq: `dramatiq dramatiq_app --processes 1 --threads 8` (its default 8 threads)."""

from __future__ import annotations

from importlib.metadata import version

from driver import TRIP_TIMEOUT_S, VENV_BIN, Driver, ResultKeys, bench_job_data


class DramatiqDriver(Driver):
    name = "Dramatiq"
    concurrency_note = "one worker process (--processes 1), its default --threads 8"

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        self.app = self.load_app("dramatiq_app")
        self.results = ResultKeys(self.redis)

    def worker_command(self) -> list[str]:
        return [str(VENV_BIN / "dramatiq"), "dramatiq_app", "--processes", "1", "--threads", "8"]

    def reset(self) -> None:
        self.results.clear()

    def enqueue_one(self, i: int) -> None:
        message = self.app.job.send(bench_job_data(i))
        self.results.add(self.app.result_backend.build_message_key(message))

    def done_count(self) -> int:
        return self.results.count()

    def trip(self) -> object:
        message = self.app.job.send(bench_job_data(0))
        return message.get_result(block=True, timeout=TRIP_TIMEOUT_S * 1000)

    def versions(self) -> dict[str, str]:
        return {"dramatiq": version("dramatiq")}
