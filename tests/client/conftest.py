"""Fixtures for the client tests: one real server per module on real Redis, clients, the CLI.

Isolation: each module's server has its own key prefix (deleted afterwards); a test that needs
exact counts or tasks that never run uses `idle_queue`, a fresh queue no worker serves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from taskqueue_client import TaskQueueClient

from tests.client.helpers import AsyncAsSync, LoopThread
from tests.support.server_process import FAST_RETRY_ARGS, ServerFactory, ServerProcess


@pytest.fixture(scope="module")
def factory(redis_available: None) -> Iterator[ServerFactory]:
    with ServerFactory() as servers:
        yield servers


@pytest.fixture(scope="module")
def server(factory: ServerFactory) -> ServerProcess:
    """The real `taskqueue-server` with the demo handlers and quick retries."""
    return factory.start(extra_args=FAST_RETRY_ARGS)


@pytest.fixture
def idle_queue() -> str:
    """A queue of its own that no worker serves: its tasks stay where the test puts them."""
    return f"idle_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(server: ServerProcess) -> Iterator[TaskQueueClient]:
    with TaskQueueClient(server.target, timeout=20) as tq:
        yield tq


@pytest.fixture(params=["sync", "async"])
def any_client(request: pytest.FixtureRequest, server: ServerProcess) -> Iterator[Any]:
    """The sync client, then the asyncio client behind the same interface."""
    if request.param == "sync":
        with TaskQueueClient(server.target, timeout=20) as tq:
            yield tq
        return
    runner = LoopThread()
    wrapped = AsyncAsSync(runner, server.target)
    try:
        yield wrapped
    finally:
        runner.run(wrapped.aio.close())
        runner.close()
