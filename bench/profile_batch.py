"""Where EnqueueBatch spends the server's time (issue 16's W1b): py-spy samples the server
while one client sends batches of 1,000 tasks in a loop to a queue no worker serves.

    .venv/bin/python bench/profile_batch.py [--seconds 10] [--out FILE]

Prints the rate during the profile and the top frames (bench/profile_top.py); the raw
stacks go to --out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from benchlib import REPO_ROOT, load_average, private_redis
from taskqueue_client import TaskQueueClient

sys.path.insert(0, str(REPO_ROOT))
from tests.support.server_process import start_server

BATCH = [{"task_type": "bench.job", "task_data": {"i": i, "pad": "x" * 20}} for i in range(1000)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--out", type=Path, default=Path("/tmp/profile-batch.txt"))
    args = parser.parse_args()
    with private_redis() as url:
        server = start_server(
            handlers=["bench.noop_handlers"],
            redis_url=url,
            key_prefix="bench",
            extra_args=["--accept-unknown-types", "--log-level", "WARNING", "--queues", "parked"],
        )
        try:
            client = TaskQueueClient(server.target)
            for _ in range(3):  # warm: connections, scripts, caches
                client.enqueue_many(BATCH)
            spy = subprocess.Popen(
                [str(REPO_ROOT / ".venv" / "bin" / "py-spy"), "record", "--pid",
                 str(server.process.pid), "--duration", str(int(args.seconds)), "--rate", "200",
                 "--format", "raw", "--output", str(args.out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            started, sent = time.monotonic(), 0
            while time.monotonic() - started < args.seconds + 1:
                client.enqueue_many(BATCH)
                sent += len(BATCH)
            rate = sent / (time.monotonic() - started)
            spy.wait(60)
            client.close()
        finally:
            server.stop()
    print(f"{rate:,.0f} tasks/s during the profile; load average {load_average()}")
    top = REPO_ROOT / "bench" / "profile_top.py"
    subprocess.run([sys.executable, str(top), str(args.out), "--top", "25"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
