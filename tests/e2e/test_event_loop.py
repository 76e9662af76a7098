"""`--event-loop`: the server serves gRPC and runs handlers on uvloop or on asyncio's loop."""

from __future__ import annotations

import sys

import pytest
from taskqueue_client import TaskQueueClient
from taskqueue_server.cli import loop_factory

from tests.support.server_process import ServerFactory

HANDLERS = ["tests.e2e.handlers_pid"]


@pytest.mark.parametrize(
    ("flag", "loop"), [("uvloop", "uvloop"), ("asyncio", "asyncio"), ("auto", "uvloop")]
)
def test_the_chosen_loop_serves_calls_and_runs_handlers(
    servers: ServerFactory, flag: str, loop: str
) -> None:
    server = servers.start(handlers=HANDLERS, extra_args=["--event-loop", flag])
    with TaskQueueClient(server.target) as client:
        # grpc.aio must work on the loop: unary calls, a result wait, a batch
        ids = [client.enqueue("which_loop", {}) for _ in range(3)]
        ids += client.enqueue_many([{"task_type": "which_loop", "task_data": {}}] * 3)
        assert [client.wait(task_id, timeout=30) for task_id in ids] == [{"loop": loop}] * 6
    server.stop(timeout=10)  # SIGTERM handling works on the loop too
    assert server.process.returncode == 0


def test_without_uvloop_auto_falls_back_and_uvloop_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` now raises ImportError
    assert loop_factory("auto") is None and loop_factory("asyncio") is None
    with pytest.raises(ImportError):
        loop_factory("uvloop")
