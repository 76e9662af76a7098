"""The store without --redis-url: a private redis-server child that keeps its data, and the
in-memory fallback when there is no redis-server on PATH.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from taskqueue.v1 import taskqueue_pb2 as pb

from tests.e2e.helpers import Driver, result_dict
from tests.support.server_process import ServerFactory, ServerProcess

EXIT_DEADLINE_SECONDS = 10.0


def redis_children(server: ServerProcess) -> list[int]:
    """Pids of the redis-server processes the server started."""
    pid = server.process.pid
    children: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            children += [int(child) for child in listing.read().split()]
    return [c for c in children if "redis-server" in _cmdline(c)]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().decode(errors="replace")
    except OSError:
        return ""


def gone(pid: int) -> bool:
    """Exited (a zombie not yet reaped by init counts: it runs nothing)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + EXIT_DEADLINE_SECONDS
    while not gone(pid):
        assert time.monotonic() < deadline, f"redis-server {pid} still runs"
        time.sleep(0.05)


def start_default(factory: ServerFactory, data_dir: Path, *args: str) -> ServerProcess:
    server = factory.start(redis_url=None, extra_args=["--data-dir", str(data_dir), *args])
    assert f"private redis-server, data in {data_dir}" in server.ready_line, server.output()
    return server


def test_a_task_survives_a_restart_of_the_default_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ServerFactory(redis_url=None) as factory:
        # Its workers take another queue, so the task waits in "default" across the restart.
        first = start_default(factory, data_dir, "--queues", "elsewhere")
        (child,) = redis_children(first)
        driver = Driver(first.target)
        task = driver.enqueue("echo", {"kept": True})
        driver.close()
        assert first.stop() == 0
        wait_gone(child)

        second = start_default(factory, data_dir)
        driver = Driver(second.target)
        assert driver.get(task.id).id == task.id
        done = driver.finish(task.id)
        driver.close()
        assert done.status == pb.TASK_STATUS_COMPLETED
        assert result_dict(done)["echo"] == {"kept": True}
        (child,) = redis_children(second)
        assert second.stop() == 0
        wait_gone(child)


def test_the_private_redis_server_goes_when_the_server_is_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ServerFactory(redis_url=None) as factory:
        server = start_default(factory, data_dir)
        (child,) = redis_children(server)
        server.kill()
        wait_gone(child)
        # Its data directory is free again: a new server starts on it at once.
        again = start_default(factory, data_dir)
        assert again.stop() == 0


def test_without_redis_server_on_path_the_in_memory_store_says_so(tmp_path: Path) -> None:
    with ServerFactory(redis_url=None) as factory:
        server = factory.start(
            redis_url=None,
            extra_args=["--data-dir", str(tmp_path / "data")],
            env={"PATH": str(tmp_path)},  # an empty directory: no redis-server
        )
        assert "in-memory store (not durable: no redis-server on PATH)" in server.ready_line
        warnings = [line for line in server.lines() if "WARNING" in line]
        assert any("NOTHING IS DURABLE" in line for line in warnings), server.output()
        assert redis_children(server) == []
        driver = Driver(server.target)
        task = driver.enqueue("sleep", {"seconds": 0.1})
        assert driver.finish(task.id).status == pb.TASK_STATUS_COMPLETED
        driver.close()
        assert server.stop() == 0
        assert not (tmp_path / "data").exists()
