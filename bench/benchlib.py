"""Shared by engine_bench.py and service_bench.py: a private Redis, medians, the machine,
the results file. Nothing here measures anything itself."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own on a free port, no persistence; yields its URL.

    The bench never touches the shared Redis on 6379 that tests use.
    """
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="tq-bench-redis-")
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", workdir, "--logfile", "", "--loglevel", "warning"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("private redis-server did not start") from None
                time.sleep(0.02)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(10)


def redis_version(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def machine(url: str, redis_note: str = "private, no persistence") -> str:
    """One line: cores, CPU model, RAM, Redis and Python versions."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_kb = int(line.split()[1])
    return (
        f"{os.cpu_count()} cores (nproc), {cpu}, {ram_kb / 1024 / 1024:.0f} GiB RAM, "
        f"Linux {platform.release()}, Redis {redis_version(url)} ({redis_note}), "
        f"Python {platform.python_version()}"
    )


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    return Path("/proc/loadavg").read_text().split()[0]


class Figures:
    """Collects several runs of each figure; renders median (min-max)."""

    def __init__(self) -> None:
        self.runs: dict[str, list[float]] = {}

    def add(self, name: str, value: float) -> None:
        self.runs.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.runs[name])

    def cell(self, name: str, digits: int = 0) -> str:
        values = self.runs.get(name)
        if not values:
            return "n/a"
        text = f"{statistics.median(values):,.{digits}f}"
        if len(values) > 1:
            text += f" ({min(values):,.{digits}f}-{max(values):,.{digits}f})"
        return text


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    met = value >= target if higher_is_better else value <= target
    return "met" if met else "MISSED"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(name: str, text: str) -> Path:
    """Print the report and keep it as bench/results/<name>-<date>.md."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}-{dt.date.today():%Y-%m-%d}.md"
    path.write_text(text)
    print(text)
    print(f"(written to {path.relative_to(REPO_ROOT)})", file=sys.stderr)
    return path


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
