"""The interface every system's driver implements, and the pieces drivers share.

A driver knows how one queue library enqueues the bench job, how its worker command is
started, how to count finished jobs and how to wait for one result. Everything about
workloads, timing and aggregation lives in runner.py, so no system gets its own copy.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import redis

PEERS_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
TRIP_TIMEOUT_S = 10


class NoBulkAPI(Exception):
    """The library has no bulk enqueue path; W1b is reported as 'no bulk API'."""


def bench_job_data(i: int) -> dict[str, int]:
    """The payload every system's no-op job receives; it returns {"ok": True, "i": i}."""
    return {"i": i}


class ResultKeys:
    """Counts finished jobs for libraries that keep one result key per job.

    Jobs finish roughly in enqueue order, so a cursor walks forward a chunk at a time: a chunk
    is checked in full only once its last key exists. The count is a lower bound that lags by
    under one chunk and is exact once every job is done; polling stays cheap for Redis.
    """

    def __init__(self, client: redis.Redis, chunk: int = 100) -> None:
        self.client = client
        self.chunk = chunk
        self.keys: list[str] = []
        self.confirmed = 0

    def add(self, key: str) -> None:
        self.keys.append(key)

    def clear(self) -> None:
        self.keys.clear()
        self.confirmed = 0

    def count(self) -> int:
        while self.confirmed < len(self.keys):
            chunk = self.keys[self.confirmed : self.confirmed + self.chunk]
            if not self.client.exists(chunk[-1]) or self.client.exists(*chunk) < len(chunk):
                break
            self.confirmed += len(chunk)
        return self.confirmed


class Driver(ABC):
    """One queue library as its users run it: a producer in this process, a worker command."""

    name: str = ""
    concurrency_note: str = ""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self.redis = redis.Redis.from_url(redis_url)
        self.worker: subprocess.Popen[bytes] | None = None

    def load_app(self, module: str) -> Any:
        """Import a peer's app module; app modules read the bench Redis URL at import."""
        os.environ["BENCH_REDIS_URL"] = self.redis_url
        return importlib.import_module(module)

    # -- the worker process ---------------------------------------------------------------
    @abstractmethod
    def worker_command(self) -> list[str]:
        """The command line of one worker, as the library documents it."""

    def start_worker(self, log_path: Path) -> int:
        """Start the worker command in its own process group; return its pid."""
        env = dict(os.environ, BENCH_REDIS_URL=self.redis_url, PYTHONPATH=str(PEERS_DIR))
        with open(log_path, "ab") as log:
            self.worker = subprocess.Popen(
                self.worker_command(),
                cwd=PEERS_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.worker.pid

    def stop_worker(self, grace_s: float = 10.0) -> None:
        """SIGTERM the worker's whole process group, SIGKILL it if it lingers."""
        proc, self.worker = self.worker, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        # prefork pools can leave grandchildren behind in the group after the leader exits
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    # -- the producer -------------------------------------------------------------------
    def reset(self) -> None:
        """Forget jobs enqueued before the store was flushed (drivers that track ids)."""
        return None

    @abstractmethod
    def enqueue_one(self, i: int) -> None:
        """Enqueue one bench job through the library's usual single-job call."""

    def enqueue_each(self, n: int) -> None:
        """W1: a single producer loop, one job per call."""
        for i in range(n):
            self.enqueue_one(i)

    def enqueue_bulk(self, n: int) -> None:
        """W1b: the library's bulk path; raise NoBulkAPI where it has none."""
        raise NoBulkAPI

    def purge_queued(self) -> bool:
        """Drop jobs still queued after a drain that hit its limit; False if not supported."""
        return False

    @abstractmethod
    def done_count(self) -> int:
        """How many enqueued jobs have finished, from where the library records it."""

    @abstractmethod
    def trip(self) -> Any:
        """Enqueue one job and block on the library's own result API until it is back."""

    def round_trips(self, count: int, budget_s: float) -> list[float]:
        """W3: latencies in seconds of up to `count` trips, stopping after `budget_s`."""
        latencies: list[float] = []
        stop_at = time.monotonic() + budget_s
        while len(latencies) < count and time.monotonic() < stop_at:
            started = time.perf_counter()
            result = self.trip()
            latencies.append(time.perf_counter() - started)
            if not result:
                raise RuntimeError(f"{self.name}: round trip returned {result!r}")
        return latencies

    def close(self) -> None:
        self.stop_worker()
        self.redis.close()

    def versions(self) -> dict[str, str]:
        """Library versions worth printing beside the figures."""
        return {}
