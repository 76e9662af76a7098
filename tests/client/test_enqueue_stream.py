"""`AsyncTaskQueueClient(stream_enqueues=True)`: concurrent `enqueue()` calls over one
EnqueueStream, against real server processes. Every call is answered with its task id or
with the exception a unary enqueue raises; when the stream breaks (server SIGKILLed and
restarted, connection cut by a proxy) every acknowledged task exists and every unanswered
one is resent with its idempotency key: stored once, none lost, none doubled."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from taskqueue_client import (
    AsyncTaskQueueClient,
    DeadlineExceeded,
    InvalidArgument,
    RetryPolicy,
    Unauthenticated,
)
from taskqueue_client.errors import ServiceError

from tests.chaos.proxy import StallingProxy
from tests.support.script_server import script_server
from tests.support.server_process import ServerFactory, ServerProcess
from tests.support.waiting import free_port

# Wide backoff (gRPC picks each wait at random below the cap) so the unary resends certainly
# span a restarted server's start-up; quick reconnects so a ready server is noticed at once.
PATIENT = RetryPolicy(max_attempts=5, initial_backoff=3.0, max_backoff=10.0, multiplier=2.0)
QUICK_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 300),
]


def streaming_client(target: str, **options: object) -> AsyncTaskQueueClient:
    options = {"timeout": 60, "retry": PATIENT, "options": QUICK_RECONNECT, **options}
    return AsyncTaskQueueClient(target, stream_enqueues=True, **options)


def with_http(factory: ServerFactory, **options: object) -> ServerProcess:
    """A server with an HTTP port, for its /metrics."""
    return factory.start(env={"TASKQUEUE_HTTP_PORT": str(free_port())}, **options)


def grpc_requests(server: ServerProcess, method: str, code: str) -> float:
    """Calls of `method` the server ended with `code`, from its /metrics."""
    with urllib.request.urlopen(f"http://{server.http_target}/metrics", timeout=5) as page:
        text = page.read().decode()
    prefix = f'taskqueue_grpc_requests_total{{code="{code}",method="{method}"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def unary_enqueues(server: ServerProcess) -> float:
    """Unary Enqueue calls the server answered."""
    return grpc_requests(server, "Enqueue", "OK")


async def pending_in(client: AsyncTaskQueueClient, queue: str, task_type: str = "echo") -> int:
    stats = await client.stats(queue=queue)
    return stats[task_type].pending if task_type in stats else 0


async def test_concurrent_enqueues_share_the_stream_and_get_their_own_ids(
    factory: ServerFactory, idle_queue: str
) -> None:
    server = with_http(factory)
    async with streaming_client(server.target) as client:
        ids = await asyncio.gather(
            *(client.enqueue("echo", {"n": n}, queue=idle_queue) for n in range(32))
        )
        assert len(set(ids)) == 32
        for n, task_id in enumerate(ids):
            assert (await client.get_task(task_id)).task_data == {"n": n}
        assert await pending_in(client, idle_queue) == 32
        # A caller's own idempotency key still wins, on the stream as in a unary call.
        again = await client.enqueue("echo", {"n": 0}, queue=idle_queue, idempotency_key="same")
        assert await client.enqueue("echo", {}, queue=idle_queue, idempotency_key="same") == again
    assert unary_enqueues(server) == 0, "every enqueue went over the stream"
    # Closing an idle client ends its stream cleanly, as the server's metrics show.
    assert grpc_requests(server, "EnqueueStream", "OK") == 1


async def test_a_refused_enqueue_raises_for_its_caller_only(
    server: ServerProcess, idle_queue: str
) -> None:
    bad = {"priority": 5000}
    async with streaming_client(server.target) as client:
        calls = [client.enqueue("echo", {"n": n}, queue=idle_queue) for n in range(10)]
        calls.insert(3, client.enqueue("echo", {}, queue=idle_queue, **bad))  # type: ignore[arg-type]
        calls.insert(7, client.enqueue("no_such_type", {}, queue=idle_queue))
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    refused = [outcomes.pop(7), outcomes.pop(3)]
    assert all(isinstance(task_id, str) for task_id in outcomes), outcomes
    async with AsyncTaskQueueClient(server.target, timeout=20) as unary:
        for streamed, call in zip(
            refused,
            [unary.enqueue("no_such_type", {}, queue=idle_queue), unary.enqueue("echo", {}, **bad)],  # type: ignore[arg-type]
            strict=True,
        ):
            with pytest.raises(ServiceError) as direct:
                await call
            assert type(streamed) is type(direct.value) is InvalidArgument
            assert isinstance(streamed, ServiceError)
            assert (streamed.code, streamed.message, streamed.reason) == (
                direct.value.code,
                direct.value.message,
                direct.value.reason,
            )
            assert streamed.field_violations == direct.value.field_violations
        assert [v.field for v in refused[1].field_violations] == ["priority"]  # type: ignore[union-attr]
        assert await pending_in(unary, idle_queue) == 10


async def test_a_deadline_holds_on_the_stream(server: ServerProcess, idle_queue: str) -> None:
    proxy = StallingProxy(server.port)
    try:
        async with streaming_client(f"127.0.0.1:{proxy.port}", timeout=1.0) as client:
            await client.enqueue("echo", {}, queue=idle_queue)  # the stream is open
            proxy.pause()
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                await client.enqueue("echo", {}, queue=idle_queue)
            assert time.monotonic() - started < 5
    finally:
        proxy.close()


async def test_closing_the_client_ends_the_calls_waiting_on_the_stream(
    server: ServerProcess, idle_queue: str
) -> None:
    proxy = StallingProxy(server.port)
    try:
        client = streaming_client(f"127.0.0.1:{proxy.port}")
        await client.enqueue("echo", {}, queue=idle_queue)  # the stream is open
        proxy.pause()
        waiting = [asyncio.ensure_future(client.enqueue("echo", {}, queue=idle_queue))]
        waiting.append(asyncio.ensure_future(client.enqueue("echo", {}, queue=idle_queue)))
        await asyncio.sleep(0)  # each call queues its request before its first suspension
        await client.close()
        for call in waiting:
            with pytest.raises(ServiceError) as ended:
                await asyncio.wait_for(call, 10)
            assert ended.value.code == grpc.StatusCode.CANCELLED
    finally:
        proxy.close()


async def test_auth_refusal_raises_what_unary_raises(
    factory: ServerFactory, tmp_path: Path, idle_queue: str
) -> None:
    producer = "p-" + uuid.uuid4().hex
    tokens = tmp_path / "tokens"
    tokens.write_text(f"producer {producer}\n")
    server = factory.start(extra_args=["--auth-tokens-file", str(tokens)])
    async with streaming_client(server.target, token="w-" + uuid.uuid4().hex) as client:
        with pytest.raises(Unauthenticated):
            await client.enqueue("echo", {}, queue=idle_queue)
    async with streaming_client(server.target, token=producer) as client:
        assert await client.enqueue("echo", {}, queue=idle_queue)


@dataclass
class Producers:
    """Coroutines enqueuing one task per call until stopped; what each call got, and when."""

    client: AsyncTaskQueueClient
    queue: str
    acknowledged: list[tuple[float, float, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, count: int) -> None:
        async def produce(who: int) -> None:
            n = 0
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    task_id = await self.client.enqueue(
                        "echo", {"who": who, "n": n}, queue=self.queue
                    )
                except Exception as exc:  # reported by the test's assertions
                    self.errors.append(exc)
                    return
                self.acknowledged.append((started, time.monotonic(), task_id))
                n += 1

        await asyncio.gather(*(produce(who) for who in range(count)))

    def stop(self) -> None:
        self._stop.set()

    async def until(self, acknowledged: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged) < acknowledged and not self.errors:
            assert time.monotonic() < deadline, f"only {len(self.acknowledged)} acknowledged"
            await asyncio.sleep(0.02)
        assert not self.errors, self.errors


@contextlib.asynccontextmanager
async def producing(client: AsyncTaskQueueClient, queue: str) -> AsyncIterator[Producers]:
    producers = Producers(client, queue)
    running = asyncio.create_task(producers.run(32))
    try:
        yield producers
    finally:
        producers.stop()
        await asyncio.wait_for(running, 120)


async def check_stored_once(client: AsyncTaskQueueClient, producers: Producers) -> None:
    assert not producers.errors, producers.errors
    ids = [task_id for _, _, task_id in producers.acknowledged]
    assert len(set(ids)) == len(ids), "two calls were answered with one task"
    assert await pending_in(client, producers.queue) == len(ids), "a task was stored twice"
    sample = ids[:: max(1, len(ids) // 50)]
    found = await asyncio.gather(*(client.get_task(task_id) for task_id in sample))
    assert [task.id for task in found] == sample


async def survive(
    client: AsyncTaskQueueClient,
    queue: str,
    breaks: int,
    break_stream: Callable[[], Awaitable[None]],
) -> Producers:
    """32 producers while the stream is broken `breaks` times; returns what they got."""
    async with producing(client, queue) as producers:
        for round_ in range(1, breaks + 1):
            await producers.until(100 * round_)
            await break_stream()
            await producers.until(100 * round_ + 100)
    return producers


async def test_a_killed_and_restarted_server_loses_and_doubles_nothing(
    factory: ServerFactory, idle_queue: str
) -> None:
    servers = [factory.start(port=free_port())]

    async def kill_and_restart() -> None:
        servers[-1].kill()  # SIGKILL: nothing is answered, nothing cleaned up
        restarted = await asyncio.to_thread(with_http, factory, port=servers[-1].port)
        servers.append(restarted)

    async with streaming_client(servers[0].target) as client:
        producers = await survive(client, idle_queue, 1, kill_and_restart)
        await check_stored_once(client, producers)
    # The calls the killed server left unanswered were resent by unary Enqueue.
    assert unary_enqueues(servers[-1]) > 0
    assert servers[-1].stop(signal.SIGTERM) == 0


async def test_a_cut_connection_loses_and_doubles_nothing(
    factory: ServerFactory, idle_queue: str
) -> None:
    server = with_http(factory)
    proxy = StallingProxy(server.port)

    async def cut() -> None:
        proxy.cut()

    try:
        async with streaming_client(f"127.0.0.1:{proxy.port}") as client:
            producers = await survive(client, idle_queue, 3, cut)
            await check_stored_once(client, producers)
        assert proxy.accepted > 1, "the client reconnected after a cut"
        assert unary_enqueues(server) > 0, "the calls a cut left unanswered were resent"
    finally:
        proxy.close()


@pytest.fixture
def older_server() -> Iterator[str]:
    """The address of a server from before EnqueueStream (older_server.py)."""
    with script_server(Path(__file__).with_name("older_server.py")) as address:
        yield address


async def test_an_older_server_turns_the_stream_off(older_server: str) -> None:
    async with streaming_client(older_server) as client:

        async def eight_enqueues() -> int:
            keys = [uuid.uuid4().hex for _ in range(8)]
            ids = await asyncio.gather(*(client.enqueue("echo", idempotency_key=k) for k in keys))
            assert len(set(ids)) == 8
            return (await client.stats())["refused_streams"].pending

        assert [await eight_enqueues() for _ in range(3)] == [1, 1, 1], "one try, then no more"
