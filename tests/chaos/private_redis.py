"""A redis-server of the test's own: append-only with fsync on every write, on a free port.

The drills restart, kill and SIGSTOP it, which they must never do to the shared Redis.
It runs in its own process group, so teardown kills it and nothing it started survives.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.waiting import free_port, wait_until


class PrivateRedis:
    """`start()`, `kill()`, `restart()`, `pause()`, `resume()`, `close()`; `.url` for clients."""

    def __init__(
        self, port: int | None = None, appendfsync: str = "always", appendonly: bool = True
    ) -> None:
        self.port = port or free_port()
        self.appendfsync = appendfsync
        self.appendonly = appendonly
        self.dir = Path(tempfile.mkdtemp(prefix="tq-private-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def start(self, timeout: float = 15.0) -> None:
        args = [
            shutil.which("redis-server") or "redis-server",
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--save", "",
            "--protected-mode", "yes",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        wait_until(self._answers, timeout, f"private redis on port {self.port} answers PING")

    def _answers(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.dir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{log}")
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            return False
        finally:
            client.close()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop it abruptly (SIGKILL: a crash; acknowledged writes are already fsynced)."""
        if self.process is None:
            return
        if self.paused:
            self.resume()
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(15)
        self.process = None

    def restart(self, sig: int = signal.SIGKILL, down_seconds: float = 0.0) -> None:
        self.kill(sig)
        if down_seconds:
            time.sleep(down_seconds)  # the outage the test wants, not a wait for a condition
        self.start()

    def pause(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)
        self.paused = False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def close(self) -> None:
        try:
            self.kill()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
