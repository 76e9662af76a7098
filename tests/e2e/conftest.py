"""Fixtures for the end-to-end tests: real server processes on real Redis, isolated per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.helpers import RECORD_HANDLERS, Driver, Records
from tests.support.server_process import (
    DEMO_HANDLERS,
    FAST_RETRY_ARGS,
    REDIS_URL,
    ServerFactory,
    ServerProcess,
)


def record_env(factory: ServerFactory) -> dict[str, str]:
    return {"TQTEST_REDIS_URL": REDIS_URL, "TQTEST_PREFIX": factory.key_prefix}


@pytest.fixture(scope="module")
def shared_factory(redis_available: None) -> Iterator[ServerFactory]:
    with ServerFactory() as factory:
        yield factory


@pytest.fixture(scope="module")
def shared_server(shared_factory: ServerFactory) -> ServerProcess:
    """One server per test module: demo and record handlers, fast exact retries."""
    return shared_factory.start(
        handlers=[DEMO_HANDLERS, RECORD_HANDLERS],
        extra_args=[*FAST_RETRY_ARGS, "--max-task-data-bytes", "2000", "--max-batch-size", "50"],
        env=record_env(shared_factory),
    )


@pytest.fixture(scope="module")
def driver(shared_server: ServerProcess) -> Iterator[Driver]:
    client = Driver(shared_server.target)
    yield client
    client.close()


@pytest.fixture(scope="module")
def records(shared_factory: ServerFactory) -> Records:
    return Records(REDIS_URL, shared_factory.key_prefix)
