"""BullMQ (Node): a Worker at concurrency 10 in one Node process; the producer is Node too.

The timed loops run inside the Node producer (bullmq/producer.mjs), so BullMQ is measured in
its own runtime; this driver only sends it one JSON command per workload over a pipe.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from driver import PEERS_DIR, Driver

NODE_DIR = PEERS_DIR / "bullmq"
CONCURRENCY = "10"


class BullMQDriver(Driver):
    name = "BullMQ (Node)"
    concurrency_note = f"one Node process, Worker concurrency {CONCURRENCY}"

    def __init__(self, redis_url: str) -> None:
        super().__init__(redis_url)
        env = {"BENCH_REDIS_URL": redis_url, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        self.producer = subprocess.Popen(
            ["node", "producer.mjs"], cwd=NODE_DIR, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )

    def _call(self, **command: Any) -> dict[str, Any]:
        assert self.producer.stdin is not None and self.producer.stdout is not None
        self.producer.stdin.write(json.dumps(command) + "\n")
        self.producer.stdin.flush()
        reply: dict[str, Any] = json.loads(self.producer.stdout.readline())
        if not reply.get("ok"):
            raise RuntimeError(f"bullmq producer: {reply}")
        return reply

    def worker_command(self) -> list[str]:
        return ["env", f"BULLMQ_CONCURRENCY={CONCURRENCY}", "node", str(NODE_DIR / "worker.mjs")]

    def enqueue_one(self, i: int) -> None:
        self._call(cmd="each", n=1)

    def enqueue_each(self, n: int) -> None:
        self._call(cmd="each", n=n)

    def enqueue_bulk(self, n: int) -> None:
        self._call(cmd="bulk", n=n)

    def done_count(self) -> int:
        return int(self.redis.zcard("bull:bench:completed"))

    def trip(self) -> object:
        return self.round_trips(1, 60.0)

    def round_trips(self, count: int, budget_s: float) -> list[float]:
        latencies: list[float] = self._call(cmd="trips", count=count, budget_ms=budget_s * 1000)[
            "latencies"
        ]
        return latencies

    def close(self) -> None:
        super().close()
        if self.producer.stdin:
            self.producer.stdin.close()
        try:
            self.producer.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.producer.kill()

    def versions(self) -> dict[str, str]:
        lock = json.loads((NODE_DIR / "package-lock.json").read_text())
        packages = lock["packages"]
        return {
            "bullmq": packages["node_modules/bullmq"]["version"],
            "ioredis": packages["node_modules/ioredis"]["version"],
            "node": subprocess.run(
                ["node", "--version"], capture_output=True, text=True
            ).stdout.strip(),
        }
