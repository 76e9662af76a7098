"""Where one idle round trip goes (issue 16's W3): Redis MONITOR time stamps of every command
of a few `run()` trips through a real server running the realistic job.

    .venv/bin/python bench/roundtrip_trace.py [--trips 5]

Prints, per trip, each client command (scripts, the handler's INCR, SUBSCRIBE) in ms since
the client sent its call; commands run inside scripts are left out. MONITOR slows Redis
itself, so read the gaps between hops, not the total.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from urllib.parse import urlparse

from benchlib import REPO_ROOT, private_redis
from taskqueue_client import TaskQueueClient

sys.path.insert(0, str(REPO_ROOT))
from tests.support.server_process import start_server

PEERS = REPO_ROOT / "bench" / "peers"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=5)
    args = parser.parse_args()
    with private_redis() as url:
        env = dict(os.environ, PYTHONPATH=str(PEERS), BENCH_REDIS_URL=url)
        server = start_server(
            handlers=["taskqueue_handlers"],
            redis_url=url,
            key_prefix="bench",
            extra_args=["--concurrency", "16", "--log-level", "WARNING"],
            env=env,
        )
        try:
            client = TaskQueueClient(server.target)
            for i in range(50):  # warm: connections, scripts, the handler's client
                client.run("bench.job", {"i": i}, timeout=10)
            monitor = subprocess.Popen(
                ["redis-cli", "-p", str(urlparse(url).port), "monitor"],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(0.3)  # MONITOR attached before the first trip
            trips = []
            for i in range(args.trips):
                sent = time.time()
                client.run("bench.job", {"i": i}, timeout=10)
                trips.append((sent, time.time()))
                time.sleep(0.2)  # idle between trips, as W3 is
            monitor.terminate()
            lines = monitor.communicate()[0].splitlines()
            client.close()
        finally:
            server.stop()
    for sent, answered in trips:
        print(f"--- trip {1000 * (answered - sent):.2f} ms")
        for line in lines:
            stamp, _, rest = line.partition(" ")
            if "[0 lua]" in rest or not stamp.replace(".", "").isdigit():
                continue
            if sent <= float(stamp) <= answered:
                print(f"{1000 * (float(stamp) - sent):7.2f}  {rest[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
