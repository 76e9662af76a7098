"""Queue and task controls through both clients and the `taskqueue` CLI, on a real server."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from typing import Any

import pytest
from taskqueue_client import InvalidArgument, QueueInfo, TaskFailed, TaskStatus

from tests.client.helpers import cli_command, run_cli
from tests.support.server_process import ServerProcess


def by_name(queues: list[QueueInfo], name: str) -> QueueInfo:
    return next(queue for queue in queues if queue.name == name)


def test_clients_control_a_queue(any_client: Any, idle_queue: str) -> None:
    first, second = (any_client.enqueue("echo", {}, queue=idle_queue) for _ in range(2))
    queue = by_name(any_client.list_queues(), idle_queue)
    assert queue.task_types["echo"].pending == 2 and not queue.paused
    assert any_client.pause_queue(idle_queue).paused
    assert by_name(any_client.list_queues(), idle_queue).paused
    assert any_client.change_priority(second, 9).priority == 9
    with pytest.raises(InvalidArgument, match="priority"):
        any_client.change_priority(second, 5000)
    assert any_client.delete_task(first) is TaskStatus.PENDING
    assert any_client.purge_queue(idle_queue, "echo") == 1
    assert not any_client.resume_queue(idle_queue).paused


def test_cli_controls(server: ServerProcess, client: Any, idle_queue: str) -> None:
    task_id = client.enqueue("echo", {}, queue=idle_queue)
    other = client.enqueue("echo", {}, queue=idle_queue)

    def cli(*args: str) -> str:
        done = run_cli(*args, target=server.target)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = {q["name"]: q for q in json.loads(cli("queues", "--json"))}
    assert listed[idle_queue]["task_types"]["echo"]["pending"] == 2
    assert cli("queue", "pause", idle_queue).split() == [idle_queue, "paused"]
    assert idle_queue in cli("queues") and "paused" in cli("queues")
    assert cli("priority", task_id, "7").split() == [task_id, "priority", "7", "pending"]
    assert cli("delete", other).strip() == f"{other}  deleted (was pending)"
    assert cli("queue", "purge", idle_queue).strip() == f"{idle_queue}  purged 1 task(s)"
    assert cli("queue", "resume", idle_queue).split() == [idle_queue, "running"]
    refused = run_cli("priority", task_id, "5000", target=server.target)
    assert refused.returncode == 65 and "priority" in refused.stderr


def test_top_redraws_until_q(server: ServerProcess, client: Any, idle_queue: str) -> None:
    client.enqueue("echo", {}, queue=idle_queue)
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKQUEUE_")}
    top = subprocess.Popen(
        [*cli_command(), "--target", server.target, "top", "--interval", "0.2"],
        stdin=follower, stdout=follower, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 30
    while screen.count(b"QUEUE") < 3 and time.monotonic() < deadline:
        screen += os.read(leader, 4096)
    assert screen.count(b"\x1b[2J") >= 3, screen  # a fresh screen per frame
    assert b"DONE/S" in screen and idle_queue.encode() in screen
    os.write(leader, b"q")
    assert top.wait(10) == 0
    os.close(leader)


@pytest.mark.parametrize("command", ["queues", "queue", "priority", "delete", "top"])
def test_control_commands_have_help(command: str) -> None:
    done = run_cli(command, "--help")
    assert done.returncode == 0 and f"usage: taskqueue {command}" in done.stdout


def test_retry_all_failed_counts_then_acts(server: ServerProcess, client: Any) -> None:
    failed = [client.enqueue("fail", {"permanent": True}) for _ in range(3)]
    for task_id in failed:
        with pytest.raises(TaskFailed):
            client.wait(task_id, timeout=20)

    def cli(*args: str) -> str:
        done = run_cli("retry", "--all-failed", "--task-type", "fail", *args, target=server.target)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert cli().startswith("3 failed task(s) in default would be retried")
    assert {client.get_task(t).status for t in failed} == {TaskStatus.FAILED}
    assert cli("--yes") == "retried 3 failed task(s) in default"
    for task_id in failed:  # they run again, and fail again
        with pytest.raises(TaskFailed):
            client.wait(task_id, timeout=20)
    assert client.get_task(failed[0]).attempts == 1
    assert run_cli("retry", target=server.target).returncode == 64
