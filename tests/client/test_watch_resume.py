"""A watch survives its stream being dropped, in the sync client, the asyncio client and the
CLI: a server restart on the same port (SIGTERM, then a new process), and a proxy that cuts
the connection. Each state reaches the watcher once, in order, none missing.

The watched task sits in a queue no worker serves until the watcher has resumed; then a
worker server runs it (`sleep` reports progress ten times), so every later version is one
the resumed stream must deliver.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import redis
from taskqueue_client import (
    AsyncTaskQueueClient,
    DeadlineExceeded,
    RetryPolicy,
    TaskQueueClient,
    Unavailable,
)
from taskqueue_server.engine.keys import QueueKeys

from tests.chaos.proxy import StallingProxy
from tests.client.helpers import cli_command
from tests.support.server_process import REDIS_URL, ServerFactory, ServerProcess
from tests.support.waiting import wait_until

# pending, processing, ten progress reports, completed
SLEEP_VERSIONS = [(1, "pending"), (2, "processing")]
SLEEP_VERSIONS += [(v, "processing") for v in range(3, 13)] + [(13, "completed")]


@dataclass
class Watch:
    """What one watcher saw: (version, status) per state, and how it ended."""

    states: list[tuple[int, str]] = field(default_factory=list)
    error: BaseException | None = None
    exit_code: int | None = None
    ended: threading.Event = field(default_factory=threading.Event)

    def run(self, body: Callable[[], None]) -> None:
        def guarded() -> None:
            try:
                body()
            except BaseException as exc:  # reported by the test's assertions
                self.error = exc
            finally:
                self.ended.set()

        threading.Thread(target=guarded, daemon=True).start()

    def result(self, timeout: float) -> list[tuple[int, str]]:
        assert self.ended.wait(timeout), f"the watch did not end; saw {self.states}"
        assert self.error is None, f"the watch failed after {self.states}: {self.error!r}"
        return self.states


def watch_sync(target: str, task_id: str) -> Watch:
    watch = Watch()

    def body() -> None:
        with TaskQueueClient(target) as tq:
            for task in tq.watch(task_id, timeout=120):
                watch.states.append((task.version, task.status.value))

    watch.run(body)
    return watch


def watch_async(target: str, task_id: str) -> Watch:
    watch = Watch()

    async def follow() -> None:
        async with AsyncTaskQueueClient(target) as tq:
            async for task in tq.watch(task_id, timeout=120):
                watch.states.append((task.version, task.status.value))

    watch.run(lambda: asyncio.run(follow()))
    return watch


def watch_cli(target: str, task_id: str) -> Watch:
    watch = Watch()

    def body() -> None:
        command = [*cli_command(), "watch", "--json", "--target", target, task_id]
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
            assert process.stdout is not None
            for line in process.stdout:
                state = json.loads(line)
                watch.states.append((state["version"], state["status"]))
            watch.exit_code = process.wait(120)

    watch.run(body)
    return watch


WATCHERS = {"sync": watch_sync, "async": watch_async, "cli": watch_cli}


@pytest.fixture(params=sorted(WATCHERS))
def start_watch(request: pytest.FixtureRequest) -> Callable[[str, str], Watch]:
    return WATCHERS[request.param]


@pytest.fixture
def queue() -> str:
    return f"resume_{uuid.uuid4().hex[:10]}"


def watch_only_server(factory: ServerFactory, port: int = 0) -> ServerProcess:
    """A server whose workers serve another queue: it answers watches, runs nothing."""
    return factory.start(port=port, extra_args=["--queues", "nobody_here"])


def subscribers(factory: ServerFactory, queue: str, task_id: str) -> int:
    """Server processes subscribed to the task's events (one per process, however many
    streams it serves)."""
    channel = QueueKeys(factory.key_prefix, queue).task_events(task_id)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])
    finally:
        client.close()


def test_watch_resumes_on_a_restarted_server(
    servers: ServerFactory, queue: str, start_watch: Callable[[str, str], Watch]
) -> None:
    first = watch_only_server(servers)
    with TaskQueueClient(first.target) as tq:
        task_id = tq.enqueue("sleep", {"seconds": 0.5}, queue=queue)
    watch = start_watch(first.target, task_id)
    wait_until(lambda: watch.states, 30, "the first state")
    stopping = time.monotonic()
    assert first.stop() == 0
    # Open watches end at once with UNAVAILABLE, not after the 25 s shutdown grace.
    assert time.monotonic() - stopping < 10

    watch_only_server(servers, port=first.port)
    # The stopped server's subscription is gone: this one is the resumed stream's.
    wait_until(lambda: subscribers(servers, queue, task_id) == 1, 60, "the resumed watch")
    servers.start(extra_args=["--queues", queue])

    assert watch.result(60) == SLEEP_VERSIONS
    assert watch.exit_code in (None, 0)


def test_watch_resumes_after_a_proxy_cuts_the_stream(
    servers: ServerFactory, queue: str, start_watch: Callable[[str, str], Watch]
) -> None:
    server = watch_only_server(servers)
    proxy = StallingProxy(server.port)
    try:
        with TaskQueueClient(server.target) as tq:
            task_id = tq.enqueue("sleep", {"seconds": 2}, queue=queue)
        watch = start_watch(f"127.0.0.1:{proxy.port}", task_id)
        wait_until(lambda: watch.states, 30, "the first state")
        servers.start(extra_args=["--queues", queue])
        wait_until(lambda: len(watch.states) >= 4, 30, "progress before the cut")
        proxy.cut()
        states = watch.result(60)
    finally:
        proxy.close()

    assert proxy.accepted >= 2, "the watcher never reconnected"
    versions = [version for version, _ in states]
    # Changes made while the stream was down arrive folded into the current state, so some
    # versions may be skipped, but none repeats, none goes back, and the end arrives.
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert states[-1] == (13, "completed")
    assert watch.exit_code in (None, 0)


def test_a_watch_gives_up_on_a_server_that_stays_away(servers: ServerFactory) -> None:
    server = watch_only_server(servers)
    with TaskQueueClient(server.target) as tq:
        task_id = tq.enqueue("echo", {}, queue="nobody_works_here")
    assert server.stop() == 0
    quick = RetryPolicy(initial_backoff=0.1, max_backoff=0.5)
    with TaskQueueClient(server.target, retry=quick) as tq:
        started = time.monotonic()
        with pytest.raises((Unavailable, DeadlineExceeded)):
            list(tq.watch(task_id, timeout=3))
        # It kept trying until the watch's timeout (or until no attempt fitted before it).
        assert 2.4 <= time.monotonic() - started < 8
    with TaskQueueClient(server.target, retry=None) as tq:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            list(tq.watch(task_id, timeout=3))
        assert time.monotonic() - started < 2, "retry=None must not resume"
