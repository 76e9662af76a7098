"""Kill drill at full size: three servers, a random one SIGKILLed every few seconds.

    .venv/bin/python bench/drills/kill_drill.py --tasks 20000 --servers 3 --kill-every 3

Needs Redis on 127.0.0.1:6379 (or --redis-url). Prints a markdown table: tasks, kills, lost,
duplicates (and whether a lease expiry explains each), Stats agreement, recovery time.
Exits 1 when anything was lost or a duplicate has no explanation. The CI-sized version of
the same code is tests/chaos/test_kill_drill.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.chaos.drill import DrillConfig, run_kill_drill, summary_rows
from tests.support.server_process import REDIS_URL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=3.0,
                        help="mean seconds between kills (each gap is 0.5x-1.5x this)")
    parser.add_argument("--enqueue-rate", type=float, default=400.0, help="tasks/s")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--lease-seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()  # fmt: skip
    config = DrillConfig(
        tasks=args.tasks,
        servers=args.servers,
        kill_every=(args.kill_every * 0.5, args.kill_every * 1.5),
        enqueue_rate=args.enqueue_rate,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        drain_timeout=max(300.0, args.tasks / 50),
        seed=args.seed,
        redis_url=args.redis_url,
    )
    result, cluster = run_kill_drill(config, log=lambda line: print(line, flush=True))
    cluster.close()
    print(f"\n### Kill drill: {args.tasks} tasks, {args.servers} servers, "
          f"kill every ~{args.kill_every:g} s, lease {args.lease_seconds:g} s\n")
    print("| figure | value |\n|---|---|")
    for name, value in summary_rows(result):
        print(f"| {name} | {value} |")
    bad = result.lost or result.unexplained_duplicates or result.early_pickups
    return 1 if bad or result.stats_mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
