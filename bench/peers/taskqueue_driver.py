"""taskqueue: `taskqueue-server` processes and the Python client, over real gRPC sockets.

Our server is the API and the worker in one process, so W1/W1b cannot stop "the worker" the
way the peers' runs do. The driver keeps a front server whose workers watch an unused queue
(`--queues parked`): W1, W1b and the done-count polls go through it, and nothing runs. The
measured worker is a second server (`--queues default`) started for W2; W3 enqueues and waits
through that one server, as a single-process deployment would (`client.run()`: one Enqueue
that waits for the result).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

from driver import PEERS_DIR, TRIP_TIMEOUT_S, VENV_BIN, Driver, bench_job_data
from taskqueue_client import TaskQueueClient

TASK_TYPE = "bench.job"
CONCURRENCY = 16
BATCH = 1000  # the server's default --max-batch-size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TaskQueueDriver(Driver):
    name = "taskqueue"
    concurrency_note = f"one `taskqueue-server --concurrency {CONCURRENCY}` process (uvloop)"
    event_loop = "auto"
    processes = 1  # of the measured worker server (W2, W3); the front server always runs one

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        self.worker_port = free_port()
        self.at_worker = TaskQueueClient(f"127.0.0.1:{self.worker_port}")
        self.front: subprocess.Popen[bytes] | None = None
        self.reset()

    def reset(self) -> None:
        """A fresh front server after each flush: a running server caches its queue registry."""
        self._stop_front()
        port = free_port()
        log = (Path(os.environ.get("BENCH_LOG_DIR", "/tmp")) / "taskqueue-front.log").open("ab")
        self.front = subprocess.Popen(
            self.server_command(port, "parked"), cwd=PEERS_DIR, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=dict(os.environ, PYTHONPATH=str(PEERS_DIR)),
        )
        self.producer = TaskQueueClient(f"127.0.0.1:{port}")
        self._wait_ready(self.producer, self.front)

    def _stop_front(self) -> None:
        if self.front is None:
            return
        self.producer.close()
        self.front.terminate()
        try:
            self.front.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.front.kill()

    def server_command(self, port: int, queue: str, processes: int = 1) -> list[str]:
        return [str(VENV_BIN / "taskqueue-server"), "--redis-url", self.redis_url,
                "--handlers", "taskqueue_handlers", "--concurrency", str(CONCURRENCY),
                "--host", "127.0.0.1", "--port", str(port), "--queues", queue,
                "--http-port", "0", "--log-level", "WARNING", "--event-loop", self.event_loop,
                "--processes", str(processes)]

    @staticmethod
    def _wait_ready(client: TaskQueueClient, proc: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.stats(TASK_TYPE)
                return
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def worker_command(self) -> list[str]:
        return self.server_command(self.worker_port, "default", self.processes)

    def enqueue_one(self, i: int) -> None:
        self.producer.enqueue(TASK_TYPE, bench_job_data(i))

    def enqueue_bulk(self, n: int) -> None:
        for start in range(0, n, BATCH):
            self.producer.enqueue_many(
                [{"task_type": TASK_TYPE, "task_data": bench_job_data(i)}
                 for i in range(start, min(n, start + BATCH))]
            )

    def done_count(self) -> int:
        stats = self.producer.stats(TASK_TYPE).get(TASK_TYPE)
        return 0 if stats is None else stats.completed

    def trip(self) -> object:
        # What a user writes for "run it and give me the result": one Enqueue that waits.
        return self.at_worker.run(TASK_TYPE, bench_job_data(0), timeout=TRIP_TIMEOUT_S)

    def close(self) -> None:
        super().close()
        self._stop_front()
        self.at_worker.close()

    def versions(self) -> dict[str, str]:
        return {"taskqueue-server": version("taskqueue-server"), "grpcio": version("grpcio"),
                "protobuf": version("protobuf"), "uvloop": version("uvloop")}


class TaskQueueAsyncioDriver(TaskQueueDriver):
    """The same server on asyncio's own event loop (`--event-loop asyncio`), for comparison."""

    name = "taskqueue (asyncio loop)"
    concurrency_note = (
        f"one `taskqueue-server --concurrency {CONCURRENCY} --event-loop asyncio` process"
    )
    event_loop = "asyncio"


class TaskQueueTwoProcessDriver(TaskQueueDriver):
    """The measured server with `--processes 2`: the issue-16 bar for every core of this machine."""

    name = "taskqueue (--processes 2)"
    concurrency_note = (
        f"one `taskqueue-server --processes 2 --concurrency {CONCURRENCY}` "
        "(2 worker processes, uvloop)"
    )
    processes = 2


class TaskQueueTwoCallsDriver(TaskQueueDriver):
    """W3 as before Enqueue could wait: `enqueue()` then `wait()`, two calls, for comparison."""

    name = "taskqueue (enqueue + wait)"

    def trip(self) -> object:
        task_id = self.at_worker.enqueue(TASK_TYPE, bench_job_data(0))
        return self.at_worker.wait(task_id, timeout=TRIP_TIMEOUT_S)
