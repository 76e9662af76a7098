"""W2 drain with /metrics scraped every second and 20 dashboard viewers on the live stream,
against neither, alternating in one run on a private Redis (issue 13: within 5 %).

    .venv/bin/python bench/dashboard_bench.py                 # 3 rounds of 20,000 tasks each way

Each round queues N no-op tasks through a front server whose workers watch another queue,
starts one worker server with its HTTP port on and, when watched, the scraper and the
viewers (each reading every event of /api/live), then times the drain as drain_scale does.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
import urllib.request
from collections.abc import Iterator

import redis
from benchlib import Figures, free_port, load_average, machine, private_redis, table, write_results
from drain_scale import BATCH, POLL_SECONDS, TASK_TYPE, completed, server

VIEWERS = 20
SCRAPE_SECONDS = 1.0


@contextlib.contextmanager
def watchers(http: str) -> Iterator[dict[str, int]]:
    """A Prometheus-like scraper and VIEWERS live streams until the block ends; counts what
    they read."""
    stop = threading.Event()
    seen = {"scrapes": 0, "events": 0}

    def scrape() -> None:
        while not stop.wait(SCRAPE_SECONDS):
            with urllib.request.urlopen(f"{http}/metrics", timeout=10) as response:
                response.read()
            seen["scrapes"] += 1

    def view() -> None:
        with urllib.request.urlopen(f"{http}/api/live", timeout=30) as stream:
            for line in stream:
                if line.startswith(b"data: "):
                    seen["events"] += 1
                if stop.is_set():
                    return

    threads = [threading.Thread(target=scrape, daemon=True)]
    threads += [threading.Thread(target=view, daemon=True) for _ in range(VIEWERS)]
    for thread in threads:
        thread.start()
    try:
        yield seen
    finally:
        stop.set()


def drain_round(url: str, tasks: int, watched: bool) -> tuple[float, dict[str, int]]:
    redis.Redis.from_url(url).flushall()
    with server(url, "parked") as front:
        for start in range(0, tasks, BATCH):
            count = min(BATCH, tasks - start)
            front.enqueue_many([{"task_type": TASK_TYPE, "task_data": {}} for _ in range(count)])
        http_port = free_port()
        with server(url, "default", http_port=http_port), contextlib.ExitStack() as stack:
            seen = {"scrapes": 0, "events": 0}
            if watched:
                seen = stack.enter_context(watchers(f"http://127.0.0.1:{http_port}"))
            head_start = completed(front)
            first = time.perf_counter()
            while (done := completed(front)) < tasks:
                time.sleep(POLL_SECONDS)
            return (done - head_start) / (time.perf_counter() - first), dict(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = Figures()
    reads = {"scrapes": 0, "events": 0}
    with private_redis() as url:
        about = machine(url)
        for _ in range(args.rounds):
            for watched in (False, True):
                rate, seen = drain_round(url, args.tasks, watched)
                figures.add("watched" if watched else "quiet", rate)
                for key in reads:
                    reads[key] += seen[key]
                print(f"dashboard_bench: watched={watched} {rate:,.0f} tasks/s {seen}", flush=True)
    change = figures.median("watched") / figures.median("quiet") - 1
    rows = [
        ["neither", figures.cell("quiet")],
        [f"/metrics every {SCRAPE_SECONDS:g} s + {VIEWERS} live viewers", figures.cell("watched")],
    ]
    write_results(
        "dashboard",
        f"# W2 drain, watched or not, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Machine: {about}. {args.tasks:,} no-op tasks per round, one worker server (16 slots), "
        f"{args.rounds} rounds each way, alternating; median (min-max).\n\n"
        + table(["while draining", "W2 drain tasks/s"], rows)
        + f"\n\nChange with watchers: {change:+.1%}. Watchers read {reads['scrapes']} scrapes "
        f"and {reads['events']} live events in all. Load average after: {load_average()}.\n",
    )


if __name__ == "__main__":
    main()
