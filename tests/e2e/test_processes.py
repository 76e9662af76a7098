"""`--processes N`: one server, N processes sharing the port, supervised (real processes,
real Redis, real sockets)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from taskqueue_client import TaskQueueClient

from tests.support.server_process import ServerFactory, ServerProcess
from tests.support.waiting import wait_until

HANDLERS = ("tests.e2e.handlers_pid",)


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command may hold spaces and parentheses: fields follow the last ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def run_batch(client: TaskQueueClient, count: int) -> set[int]:
    ids = [client.enqueue("which_process", {"seconds": 0.02}) for _ in range(count)]
    return {client.wait(task_id, timeout=30)["pid"] for task_id in ids}


@pytest.fixture
def supervised(servers: ServerFactory) -> ServerProcess:
    return servers.start(
        handlers=HANDLERS, extra_args=["--processes", "2", "--lease-seconds", "2"]
    )


def test_two_processes_share_the_port_and_both_work(supervised: ServerProcess) -> None:
    children = wait_until(lambda: len(children_of(supervised.process.pid)) == 2 and
                          children_of(supervised.process.pid), 10, "two children")
    # Both processes claim from the one Redis, so both run tasks whoever took the enqueue.
    pids: set[int] = set()
    for _ in range(4):
        with TaskQueueClient(f"127.0.0.1:{supervised.port}") as client:
            pids |= run_batch(client, 40)
    assert pids == children


def test_a_killed_process_comes_back_and_nothing_is_lost(supervised: ServerProcess) -> None:
    first = wait_until(lambda: len(children_of(supervised.process.pid)) == 2 and
                       children_of(supervised.process.pid), 10, "two children")
    with TaskQueueClient(f"127.0.0.1:{supervised.port}") as client:
        ids = [client.enqueue("which_process", {"seconds": 0.5}) for _ in range(40)]
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        again = wait_until(
            lambda: (kids := children_of(supervised.process.pid)) - first and len(kids) == 2
            and kids, 15, "a replacement process")
        assert victim not in again
        results = [client.wait(task_id, timeout=30) for task_id in ids]
        assert all(isinstance(r["pid"], int) for r in results)  # wait() raises unless completed
        assert supervised.running


def test_sigterm_stops_every_process_within_the_grace(supervised: ServerProcess) -> None:
    children = wait_until(lambda: len(children_of(supervised.process.pid)) == 2 and
                          children_of(supervised.process.pid), 10, "two children")
    assert supervised.stop(signal.SIGTERM, timeout=30) == 0
    assert not any(Path(f"/proc/{pid}").exists() and
                   "(Z)" not in Path(f"/proc/{pid}/stat").read_text() for pid in children)


def test_a_process_that_cannot_start_stops_the_server(servers: ServerFactory) -> None:
    with pytest.raises(RuntimeError, match="exited with 2"):
        servers.start(handlers=("no.such.module",), extra_args=["--processes", "2"])
