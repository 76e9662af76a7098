"""W2 drain with the realistic job (issue 16), this checkout's server against a baseline copy
of the server package, alternated run by run in one sitting so that both see the same load.

The job is compare.py's (bench/peers/job.py: one Redis INCR through redis.asyncio, a small
dict stored as the result). Make the baseline from any commit, e.g.

    mkdir -p /tmp/base && git archive main server | tar -x -C /tmp/base
    .venv/bin/python bench/drain_ab.py --baseline /tmp/base/server --runs 3 --processes 1,2

Without --baseline only this checkout runs. `--profile DIR` records py-spy raw stacks of
each run's worker server there (summarise them with profile_top.py).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from benchlib import BENCH_DIR, load_average, machine, private_redis, table, write_results
from drain_scale import Job, drain

HEADER = ["server code", "processes", "W2 drain tasks/s (median)", "min-max",
          "worker CPU us/task", "Redis CPU us/task", "all cores busy",
          "load average after"]  # fmt: skip


def realistic(redis_url: str, code: str | None) -> Job:
    """compare.py's taskqueue job; `code` is a server package directory imported instead of
    this checkout's."""
    path = (code,) if code else ()
    return Job("taskqueue_handlers", "bench.job", (*path, str(BENCH_DIR / "peers")),
               {"BENCH_REDIS_URL": redis_url, "BENCH_JOB": "realistic"})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", default="1", help="comma-separated, e.g. 1,2")
    parser.add_argument("--baseline", help="a server/ directory to compare against")
    parser.add_argument("--profile", type=Path, help="directory for py-spy raw stacks")
    parser.add_argument("--concurrency", type=int, default=16, help="slots per server process")
    args = parser.parse_args()
    codes = {"this checkout": None} | ({"baseline": args.baseline} if args.baseline else {})
    rows = []
    with private_redis() as url:
        about = machine(url)
        for processes in [int(p) for p in args.processes.split(",")]:
            results: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
            for run in range(args.runs):
                for name, code in codes.items():
                    profile = None
                    if args.profile:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        label = "base" if code else "this"
                        profile = args.profile / f"{label}-p{processes}-{run}.txt"
                    result = drain(url, args.tasks, 1, processes, realistic(url, code), profile,
                                   args.concurrency)
                    results[name].append(result)
                    print(f"{name} x{processes} run {run}: {result['rate']:,.0f}/s "
                          f"worker {result['worker_us']:.0f} us, "
                          f"cores busy {result['machine_busy']:.0%}, load {load_average()}",
                          flush=True)  # fmt: skip
            for name, runs in results.items():
                rates = [r["rate"] for r in runs]
                rows.append([
                    name, str(processes), f"{statistics.median(rates):,.0f}",
                    f"{min(rates):,.0f}-{max(rates):,.0f}",
                    f"{statistics.median(r['worker_us'] for r in runs):.0f}",
                    f"{statistics.median(r['redis_us'] for r in runs):.0f}",
                    f"{statistics.median(r['machine_busy'] for r in runs):.0%}", load_average(),
                ])  # fmt: skip
    print(table(HEADER, rows))
    write_results(
        "drain-ab",
        f"# W2 drain, realistic job, A/B, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"\n\nMachine: {about}. {args.tasks:,} tasks queued, then drained by one server "
        f"({args.concurrency} slots a process); {args.runs} runs each, alternated. "
        f"Baseline: {args.baseline or '-'}.\n\n"
        + table(HEADER, rows)
        + "\n",
    )


if __name__ == "__main__":
    main()
