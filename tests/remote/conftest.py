"""Fixtures for the remote-worker tests: a real server whose own pool serves only `echo`, so
tasks of the remote types wait for the remote workers a test drives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import Driver
from tests.support.server_process import (
    DEMO_HANDLERS,
    FAST_RETRY_ARGS,
    ServerFactory,
    ServerProcess,
)
from tests.support.worker_driver import WorkerDriver


@pytest.fixture(scope="module")
def remote_factory(redis_available: None) -> Iterator[ServerFactory]:
    with ServerFactory() as factory:
        yield factory


@pytest.fixture(scope="module")
def remote_server(remote_factory: ServerFactory) -> ServerProcess:
    return remote_factory.start(
        handlers=[DEMO_HANDLERS], extra_args=[*FAST_RETRY_ARGS, "--accept-unknown-types"]
    )


@pytest.fixture(scope="module")
def driver(remote_server: ServerProcess) -> Iterator[Driver]:
    client = Driver(remote_server.target)
    yield client
    client.close()


@pytest.fixture
def worker(remote_server: ServerProcess, request: pytest.FixtureRequest) -> Iterator[WorkerDriver]:
    """A remote worker of a task type of this test's own, so tests never see each other's tasks."""
    task_type = "remote_" + request.node.name.replace("[", "_").replace("]", "")[:100]
    remote = WorkerDriver(remote_server.target, task_types=[task_type])
    yield remote
    remote.close()
