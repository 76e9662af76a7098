"""Results have a size limit (--max-result-bytes): every stored result can be read back.

Real server processes on real Redis; the "sized" handler (handlers_edges.py) returns
{"blob": "x" * chars}, whose JSON is chars + 12 bytes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.conftest import record_env
from tests.e2e.helpers import Driver, result_dict
from tests.support.server_process import ServerFactory

EDGE_HANDLERS = "tests.e2e.handlers_edges"
LIMIT = 200_000
# A result's size is its JSON or its protobuf Struct encoding (what GetResult sends),
# whichever is larger: for this one the Struct, 18 bytes more than the string at this size.
JUST_UNDER = LIMIT - 18


@pytest.fixture(scope="module")
def limited(redis_available: None) -> Iterator[Driver]:
    with ServerFactory() as servers:
        server = servers.start(
            handlers=[EDGE_HANDLERS],
            extra_args=["--max-result-bytes", str(LIMIT)],
            env=record_env(servers),
        )
        driver = Driver(server.target)
        yield driver
        driver.close()


def test_a_result_just_under_the_limit_completes_and_reads_back(limited: Driver) -> None:
    task = limited.enqueue("sized", {"chars": JUST_UNDER})
    done = limited.finish(task.id)
    assert done.status == pb.TASK_STATUS_COMPLETED, done.error
    assert len(result_dict(done)["blob"]) == JUST_UNDER


def test_a_result_just_over_the_limit_fails_for_good_and_says_why(limited: Driver) -> None:
    task = limited.enqueue("sized", {"chars": JUST_UNDER + 1}, max_retries=3)
    done = limited.finish(task.id)
    assert done.status == pb.TASK_STATUS_FAILED
    assert done.error.startswith(
        f"result too large: {LIMIT + 1} bytes, the limit is {LIMIT} bytes"
    ), done.error
    assert limited.get(task.id).attempts == 1  # permanent: not retried
    states = limited.watch(task.id)
    assert states[-1].status == pb.TASK_STATUS_FAILED


def test_the_default_limit_keeps_a_12_mb_result_out(servers: ServerFactory) -> None:
    server = servers.start(handlers=[EDGE_HANDLERS], env=record_env(servers))
    driver = Driver(server.target)
    task = driver.enqueue("sized", {"chars": 12_000_000})
    done = driver.finish(task.id, timeout=60)
    assert done.status == pb.TASK_STATUS_FAILED
    assert "the limit is 1048576 bytes" in done.error
    assert driver.watch(task.id)[-1].last_error == done.error
