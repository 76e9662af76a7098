"""A queue's default retry policy through both clients and the `taskqueue` CLI."""

from __future__ import annotations

import json
from typing import Any

import pytest
from taskqueue_client import InvalidArgument, TaskFailed

from tests.client.helpers import run_cli
from tests.support.server_process import ServerProcess


def test_set_read_and_clear_with_either_client(any_client: Any, idle_queue: str) -> None:
    assert any_client.get_queue_retry_policy(idle_queue) is None
    policy = {"base_seconds": 5, "jitter": 0, "permanent_errors": ["KeyError"]}
    stored = any_client.set_queue_retry_policy(idle_queue, policy)
    expected = {"base_seconds": 5.0, "jitter": 0.0, "permanent_errors": ("KeyError",)}
    assert stored == expected
    assert any_client.get_queue_retry_policy(idle_queue) == expected
    assert any_client.set_queue_retry_policy(idle_queue, None) is None
    assert any_client.get_queue_retry_policy(idle_queue) is None


def test_a_bad_default_names_the_field_and_stores_nothing(any_client: Any, idle_queue: str) -> None:
    any_client.set_queue_retry_policy(idle_queue, {"base_seconds": 5})
    with pytest.raises(InvalidArgument) as refused:
        any_client.set_queue_retry_policy(idle_queue, {"base_seconds": 5, "cap_seconds": 1})
    assert [v.field for v in refused.value.field_violations] == ["retry_policy.cap_seconds"]
    assert any_client.get_queue_retry_policy(idle_queue) == {"base_seconds": 5.0}


def test_the_default_reaches_the_servers_workers(any_client: Any) -> None:
    # "default" is the queue the module's server runs; the policy is left as it found it.
    any_client.set_queue_retry_policy("default", {"permanent_errors": ["RuntimeError"]})
    try:
        task_id = any_client.enqueue("fail", {}, max_retries=4)
        with pytest.raises(TaskFailed):
            any_client.wait(task_id, timeout=20)
        assert any_client.get_task(task_id).attempts == 1
    finally:
        any_client.set_queue_retry_policy("default", None)


def test_the_cli_sets_shows_and_clears(server: ServerProcess, idle_queue: str) -> None:
    def cli(*args: str) -> str:
        done = run_cli("retry-policy", *args, "--queue", idle_queue, target=server.target)
        assert done.returncode == 0, done.stderr
        return done.stdout

    shown = cli("set", "--base-seconds", "10", "--factor", "3", "--permanent-error", "KeyError")
    assert "base_seconds: 10.0" in shown and "permanent_errors: KeyError" in shown
    done = run_cli("--json", "retry-policy", "get", "--queue", idle_queue, target=server.target)
    assert json.loads(done.stdout) == {
        "base_seconds": 10.0,
        "factor": 3.0,
        "permanent_errors": ["KeyError"],
    }
    assert cli("clear").strip() == "none (the server's flags apply)"
    assert "none" in cli("get")


def test_the_cli_refuses_bad_input_with_exit_65(server: ServerProcess, idle_queue: str) -> None:
    done = run_cli(
        "retry-policy", "set", "--queue", idle_queue, "--jitter", "2", target=server.target
    )
    assert done.returncode == 65 and "retry_policy.jitter" in done.stderr
