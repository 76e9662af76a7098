"""RQ: `rq worker` with its default Worker (a forked work horse per job) or SimpleWorker."""

from __future__ import annotations

from importlib.metadata import version

from driver import TRIP_TIMEOUT_S, VENV_BIN, Driver, bench_job_data
from rq import Queue
from rq.registry import FinishedJobRegistry

QUEUE = "bench"


class RQDriver(Driver):
    name = "RQ (Worker)"
    concurrency_note = "one `rq worker`, a forked work horse per job (no in-worker concurrency)"
    worker_class = "rq.worker.Worker"

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        self.queue = Queue(QUEUE, connection=self.redis)
        self.finished = FinishedJobRegistry(queue=self.queue)

    def worker_command(self) -> list[str]:
        return [str(VENV_BIN / "rq"), "worker", "--url", self.redis_url,
                "--worker-class", self.worker_class, "--quiet", QUEUE]

    def enqueue_one(self, i: int) -> None:
        self.queue.enqueue("rq_app.job", bench_job_data(i))

    def enqueue_bulk(self, n: int) -> None:
        self.queue.enqueue_many(
            [Queue.prepare_data("rq_app.job", (bench_job_data(i),)) for i in range(n)]
        )

    def purge_queued(self) -> bool:
        self.queue.empty()
        return True

    def done_count(self) -> int:
        return self.finished.get_job_count(cleanup=False)

    def trip(self) -> object:
        job = self.queue.enqueue("rq_app.job", bench_job_data(0))
        result = job.latest_result(timeout=TRIP_TIMEOUT_S)
        return None if result is None else result.return_value

    def versions(self) -> dict[str, str]:
        return {"rq": version("rq")}


class RQSimpleDriver(RQDriver):
    name = "RQ (SimpleWorker)"
    concurrency_note = "one `rq worker -w SimpleWorker`, runs jobs in the worker process"
    worker_class = "rq.worker.SimpleWorker"
