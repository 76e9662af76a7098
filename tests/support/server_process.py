"""Start the real `taskqueue-server` process for tests, and clean up after it.

Usage (sync or async tests alike; nothing here needs an event loop):

    with ServerFactory() as servers:                 # one unique key prefix per factory
        server = servers.start(handlers=["taskqueue_server.handlers.demo"])
        channel = grpc.insecure_channel(server.target)
        ...
        server.stop()                                # SIGTERM, returns the exit code

On exit the factory kills any server still running and deletes every Redis key under its
prefix (SCAN + DEL, test helper only). Two servers started from one factory share the prefix,
so they share the queue; pass `key_prefix=` to isolate one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TASKQUEUE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Fast, exact backoff so retry timing is measurable in a test: 0.2, 0.4, 0.8 s ...
FAST_RETRY_ARGS = ["--retry-base-seconds", "0.2", "--retry-factor", "2", "--retry-jitter", "0"]
DEMO_HANDLERS = "taskqueue_server.handlers.demo"
READY_RE = re.compile(r"taskqueue-server ready on (\S+):(\d+)")


def _server_executable() -> list[str]:
    """The console script of the venv running the tests, else `python -m` the cli module."""
    script = Path(sys.executable).parent / "taskqueue-server"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from taskqueue_server.cli import main; main()"]


def unique_prefix(label: str = "t") -> str:
    """A key prefix no other test (or tester sharing this Redis) uses."""
    return f"tqtest-{label}-{uuid.uuid4().hex[:12]}"


def delete_keys(redis_url: str, prefix: str) -> int:
    """Delete every key starting with `prefix`; returns how many went."""
    import redis
    from redis.cluster import ClusterNode, RedisCluster
    from redis.sentinel import Sentinel
    from taskqueue_server.engine.redis_url import CLUSTER_SCHEME, SENTINEL_SCHEME, parse_redis_url

    target = parse_redis_url(redis_url)
    client: redis.Redis | RedisCluster
    if target.scheme == CLUSTER_SCHEME:  # scan_iter visits every primary; delete splits by slot
        client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in target.hosts])
    elif target.scheme == SENTINEL_SCHEME:
        client = Sentinel(list(target.hosts)).master_for(target.service, db=target.db)
    else:
        client = redis.Redis.from_url(redis_url)
    deleted = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(client.delete(*batch))
                batch.clear()
        if batch:
            deleted += int(client.delete(*batch))
    finally:
        client.close()
    return deleted


class ServerProcess:
    """One running `taskqueue-server`; `.target` is "127.0.0.1:PORT"."""

    def __init__(
        self, process: subprocess.Popen[str], key_prefix: str, redis_url: str | None
    ) -> None:
        self.process = process
        self.key_prefix = key_prefix
        self.redis_url = redis_url
        self.target = ""
        self.ready_line = ""
        self._lines: list[str] = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line.rstrip("\n"))
            match = READY_RE.search(line)
            if match and not self._ready.is_set():
                host, port = match.group(1), match.group(2)
                host = host.strip("[]")
                if host in ("0.0.0.0", "::", ""):
                    host = "127.0.0.1"
                self.target = f"{host}:{port}"
                self.ready_line = line.rstrip("\n")
                self._ready.set()

    def wait_ready(self, timeout: float) -> None:
        """Block until the ready line appears; raise with the output if it does not."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.process.poll() is not None:
                self._reader.join(2)
                raise RuntimeError(
                    f"taskqueue-server exited with {self.process.returncode} before it was "
                    f"ready:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"taskqueue-server not ready in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr merged)."""
        return "\n".join(self._lines)

    def lines(self) -> list[str]:
        return list(self._lines)

    @property
    def port(self) -> int:
        return int(self.target.rsplit(":", 1)[1])

    @property
    def http_target(self) -> str:
        """"127.0.0.1:PORT" of the HTTP port (start the server with TASKQUEUE_HTTP_PORT)."""
        match = re.search(r"\(http: (\S+);", self.ready_line)
        if match is None or match.group(1) == "off":
            raise AssertionError(f"this server has no HTTP port: {self.ready_line}")
        return match.group(1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Send `sig`, wait for the exit, return the exit code (kills after `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = 20.0) -> int:
        """Wait for the exit of a server already signalled; return the exit code."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(
                f"taskqueue-server did not exit within {timeout}s:\n{self.output()}"
            ) from None
        self._reader.join(2)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, the crash a test wants to survive."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(2)

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def start_server(
    *,
    handlers: Iterable[str] = (DEMO_HANDLERS,),
    redis_url: str | None = REDIS_URL,
    key_prefix: str | None = None,
    port: int = 0,
    extra_args: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    ready_timeout: float = 30.0,
) -> ServerProcess:
    """Start `taskqueue-server` and wait for its ready line.

    `redis_url=None` starts it with its default store (a private redis-server: pass
    `--data-dir` in `extra_args`; the in-memory one when PATH has no redis-server). The
    process gets the repo root on PYTHONPATH so handler modules under tests/ import by dotted name
    (e.g. "tests.e2e.handlers_record"). TASKQUEUE_* variables of the calling environment
    are dropped so a developer's shell cannot change what a test starts.
    """
    prefix = key_prefix or unique_prefix()
    args = [*_server_executable(), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--key-prefix", prefix]
    if redis_url is not None:
        args += ["--redis-url", redis_url]
    for module in handlers:
        args += ["--handlers", module]
    args += list(extra_args)

    child_env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
    pythonpath = [str(REPO_ROOT)]
    if child_env.get("PYTHONPATH"):
        pythonpath.append(child_env["PYTHONPATH"])
    child_env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    child_env["PYTHONUNBUFFERED"] = "1"
    # Many servers share this host in tests: no HTTP port unless a test asks for one.
    child_env["TASKQUEUE_HTTP_PORT"] = "0"
    child_env.update(env or {})

    process = subprocess.Popen(
        args,
        cwd=REPO_ROOT,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )
    server = ServerProcess(process, prefix, redis_url)
    server.wait_ready(ready_timeout)
    return server


class ServerFactory:
    """Starts servers that share one key prefix; stops them and deletes the keys on close."""

    def __init__(self, redis_url: str | None = REDIS_URL, key_prefix: str | None = None) -> None:
        self.redis_url = redis_url
        self.key_prefix = key_prefix or unique_prefix()
        self.servers: list[ServerProcess] = []

    def start(self, **kwargs: object) -> ServerProcess:
        """`start_server` with this factory's Redis URL and prefix unless overridden."""
        kwargs.setdefault("redis_url", self.redis_url)
        kwargs.setdefault("key_prefix", self.key_prefix)
        server = start_server(**kwargs)  # type: ignore[arg-type]
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            if server.running:
                try:
                    server.stop(timeout=10)
                except TimeoutError:
                    server.kill()
        urls = {s.redis_url for s in self.servers if s.redis_url} | (
            {self.redis_url} if self.redis_url else set()
        )
        prefixes = {s.key_prefix for s in self.servers} | {self.key_prefix}
        for url in urls:
            for prefix in prefixes:
                try:
                    delete_keys(url, prefix)
                except Exception as exc:  # a dead Redis URL is a test's own business
                    print(f"server_process: could not delete {prefix}* on {url}: {exc}")

    def __enter__(self) -> ServerFactory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def stop_all(servers: Iterable[ServerProcess], sig: int = signal.SIGTERM) -> list[int]:
    """Signal every server first, then wait, so they shut down in parallel."""
    servers = list(servers)
    for server in servers:
        if server.running:
            server.process.send_signal(sig)
    # Waiting only: a second signal would mean "stop now" to a server still shutting down.
    return [server.wait_exit() for server in servers]
