"""Several real `taskqueue-server` processes on one queue, with the chaos handlers loaded.

Every server shares one key prefix; the handlers record into the shared test Redis under
the same prefix (see handlers_chaos.py). `close()` SIGKILLs whatever still runs (a drill has
nothing left to drain) and deletes the prefix's keys in both Redis instances.
"""

from __future__ import annotations

import random
import socket
import threading

import grpc
import redis

from tests.support.server_process import (
    REDIS_URL,
    ServerFactory,
    ServerProcess,
    delete_keys,
    unique_prefix,
)

from .handlers_chaos import record_key

HANDLERS = "tests.chaos.handlers_chaos"


class ChaosCluster:
    """Starts, kills and talks to servers; reads what the handlers recorded."""

    def __init__(
        self, redis_url: str = REDIS_URL, label: str = "chaos", args: tuple[str, ...] = ()
    ) -> None:
        self.prefix = unique_prefix(label)
        self.redis_url = redis_url
        self.args = list(args)
        self.factory = ServerFactory(redis_url=redis_url, key_prefix=self.prefix)
        self.recorder = redis.Redis.from_url(REDIS_URL, socket_timeout=10)
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def start(
        self,
        *extra_args: str,
        redis_url: str | None = None,
        handlers: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> ServerProcess:
        """Start one more server; `redis_url` reaches the same Redis another way (a proxy)."""
        env = {"TQCHAOS_PREFIX": self.prefix, "TQCHAOS_RECORD_URL": REDIS_URL, **(env or {})}
        return self.factory.start(
            handlers=[HANDLERS, *handlers],
            extra_args=[*self.args, *extra_args],
            env=env,
            redis_url=redis_url or self.redis_url,
        )

    @property
    def running(self) -> list[ServerProcess]:
        return [s for s in self.factory.servers if s.running]

    def channel(self, server: ServerProcess) -> grpc.Channel:
        with self._lock:  # a drill's producer thread asks too
            channel = self._channels.get(server.target)
            if channel is None:
                channel = grpc.insecure_channel(server.target)
                self._channels[server.target] = channel
            return channel

    def store(self) -> redis.Redis:
        """A client of the Redis that holds the queue (for reading leases in drills)."""
        return redis.Redis.from_url(self.redis_url, socket_timeout=10)

    def any_channel(self) -> grpc.Channel:
        return self.channel(random.choice(self.running))

    @staticmethod
    def worker_id(server: ServerProcess) -> str:
        """The id the server's worker pool writes on the tasks it claims."""
        return f"{socket.gethostname()}:{server.process.pid}"

    def recorded(self, name: str) -> dict[str, int]:
        """A per-task counter hash the handlers keep: "runs" or "done"."""
        raw = self.recorder.hgetall(record_key(name, prefix=self.prefix))
        return {k.decode(): int(v) for k, v in raw.items()}  # type: ignore[union-attr]

    def recorded_list(self, name: str, task_id: str) -> list[str]:
        key = record_key(name, task_id, prefix=self.prefix)
        return [v.decode() for v in self.recorder.lrange(key, 0, -1)]  # type: ignore[union-attr]

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()
        for server in self.factory.servers:
            server.kill()
        try:
            self.factory.close()
        finally:
            delete_keys(REDIS_URL, self.prefix)
            self.recorder.close()

    def __enter__(self) -> ChaosCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
