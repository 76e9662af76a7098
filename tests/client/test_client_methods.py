"""Every client method against the real server, run once with the sync client and once with
the asyncio client (driven through `AsyncAsSync`, so both take the same assertions)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest
from taskqueue_client import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    TaskCancelled,
    TaskFailed,
    TaskStatus,
    WaitTimeout,
)

TASK_ID = re.compile(r"^(?P<queue>[A-Za-z0-9_.]+)-[0-9a-f]{32}$")


def test_seed_usage_word_for_word(any_client: Any) -> None:
    task_id = any_client.enqueue(
        task_type="echo",
        task_data={
            "to_email": "user@example.com",
            "subject": "Welcome",
            "html_content": "<h1>Welcome!</h1>",
            "plain_text_content": "Welcome!",
        },
        priority=0,  # Higher = more priority
        max_retries=3,
        delay_seconds=0,  # Optional delay
    )
    task = any_client.get_task(task_id)
    assert task.status in {"pending", "processing", "completed"}
    any_client.wait(task_id, timeout=15)
    result = any_client.get_result(task_id)
    assert result.status == "completed"
    assert result.result["echo"]["to_email"] == "user@example.com"


def test_enqueue_round_trips_every_field(any_client: Any, idle_queue: str) -> None:
    run_at = datetime.now(UTC) + timedelta(hours=1)
    data = {"n": 3, "ratio": 0.5, "nested": {"list": [1, "two", True, None]}}
    parent = any_client.enqueue("echo", {}, queue=idle_queue)
    task_id = any_client.enqueue(
        "echo",
        data,
        priority=7,
        max_retries=5,
        run_at=run_at,
        idempotency_key="key-" + idle_queue,
        queue=idle_queue,
        timeout_seconds=12.5,
        depends_on=[parent],
    )
    match = TASK_ID.match(task_id)
    assert match and match["queue"] == idle_queue
    task = any_client.get_task(task_id)
    assert (task.id, task.queue, task.task_type) == (task_id, idle_queue, "echo")
    assert task.task_data == data and isinstance(task.task_data["n"], int)
    assert (task.priority, task.max_retries, task.timeout_seconds) == (7, 5, 12.5)
    assert task.idempotency_key == "key-" + idle_queue
    assert task.depends_on == (parent,)
    assert task.status in (TaskStatus.WAITING, TaskStatus.SCHEDULED)
    assert task.run_at is not None and abs(task.run_at - run_at) < timedelta(milliseconds=2)
    assert task.created_at is not None and task.created_at.tzinfo is not None
    assert task.started_at is None and task.finished_at is None


def test_delay_schedules_the_task(any_client: Any, idle_queue: str) -> None:
    task = any_client.get_task(any_client.enqueue("echo", {}, delay_seconds=600, queue=idle_queue))
    assert task.status is TaskStatus.SCHEDULED
    assert task.run_at - task.created_at >= timedelta(seconds=599)


def test_idempotency_keys(any_client: Any, idle_queue: str) -> None:
    first = any_client.enqueue("echo", {"a": 1}, idempotency_key="same", queue=idle_queue)
    again = any_client.enqueue("echo", {"a": 1}, idempotency_key="same", queue=idle_queue)
    assert first == again
    auto_1 = any_client.enqueue("echo", {"a": 1}, queue=idle_queue)
    auto_2 = any_client.enqueue("echo", {"a": 1}, queue=idle_queue)
    assert len({first, auto_1, auto_2}) == 3
    auto_key = any_client.get_task(auto_1).idempotency_key
    assert re.fullmatch(r"[0-9a-f]{32}", auto_key)
    assert auto_1 == f"{idle_queue}-{auto_key}"  # the key is the id's suffix: no mapping kept
    opted_out = any_client.enqueue("echo", {}, idempotency_key="", queue=idle_queue)
    assert any_client.get_task(opted_out).idempotency_key == ""


def test_enqueue_many_keeps_request_order(any_client: Any, idle_queue: str) -> None:
    ids = any_client.enqueue_many(
        [
            {"task_type": "echo", "task_data": {"i": i}, "priority": i, "queue": idle_queue}
            for i in range(5)
        ]
    )
    assert len(set(ids)) == 5
    assert [any_client.get_task(i).task_data["i"] for i in ids] == list(range(5))


def test_wait_returns_the_result(any_client: Any) -> None:
    task_id = any_client.enqueue("sleep", {"seconds": 0.3})
    assert any_client.wait(task_id, timeout=15) == {"slept": 0.3}
    assert any_client.get_task(task_id).status is TaskStatus.COMPLETED


def test_get_result_waits_on_the_server(any_client: Any) -> None:
    task_id = any_client.enqueue("sleep", {"seconds": 0.3})
    assert any_client.get_result(task_id).status is not TaskStatus.COMPLETED
    result = any_client.get_result(task_id, wait=15)
    assert (result.status, result.result, result.error) == ("completed", {"slept": 0.3}, "")


def test_wait_raises_task_failed_with_the_handler_error(any_client: Any) -> None:
    task_id = any_client.enqueue("fail", {"permanent": True, "message": "bad address"})
    with pytest.raises(TaskFailed) as caught:
        any_client.wait(task_id, timeout=15)
    assert caught.value.task_id == task_id and "bad address" in caught.value.error
    assert any_client.get_result(task_id).result is None


def test_wait_raises_task_cancelled(any_client: Any, idle_queue: str) -> None:
    task_id = any_client.enqueue("echo", {}, queue=idle_queue)
    cancelled = any_client.cancel(task_id)
    assert cancelled.status is TaskStatus.CANCELLED and cancelled.finished_at is not None
    with pytest.raises(TaskCancelled):
        any_client.wait(task_id, timeout=5)


def test_cancel_again_is_ok_and_changes_nothing(any_client: Any, idle_queue: str) -> None:
    """A retried CancelTask whose first answer was lost meets a cancelled task: still OK."""
    task_id = any_client.enqueue("echo", {}, queue=idle_queue)
    first = any_client.cancel(task_id)
    again = any_client.cancel(task_id)
    assert again == first
    assert any_client.get_task(task_id) == first


def test_cancel_of_a_completed_task_is_refused(any_client: Any) -> None:
    task_id = any_client.enqueue("echo", {})
    any_client.wait(task_id, timeout=15)
    with pytest.raises(FailedPrecondition) as refused:
        any_client.cancel(task_id)
    assert "already completed" in str(refused.value)


def test_wait_times_out_on_a_task_that_cannot_run(any_client: Any, idle_queue: str) -> None:
    task_id = any_client.enqueue("echo", {}, queue=idle_queue)
    with pytest.raises(WaitTimeout) as caught:
        any_client.wait(task_id, timeout=0.5)
    assert caught.value.status is TaskStatus.PENDING
    assert isinstance(caught.value, TimeoutError)


def test_run_enqueues_and_returns_the_result(any_client: Any) -> None:
    assert any_client.run("echo", {"n": 5}, timeout=15) == {"echo": {"n": 5}, "attempt": 1}


def test_run_raises_task_failed_with_the_handlers_error(any_client: Any) -> None:
    with pytest.raises(TaskFailed) as caught:
        any_client.run("fail", {"permanent": True}, timeout=15, max_retries=0)
    assert caught.value.error
    assert any_client.get_task(caught.value.task_id).status is TaskStatus.FAILED


def test_run_times_out_and_the_task_stays_stored(any_client: Any, idle_queue: str) -> None:
    with pytest.raises(WaitTimeout) as caught:
        any_client.run("echo", {}, timeout=0.5, queue=idle_queue)
    assert caught.value.status is TaskStatus.PENDING
    assert TASK_ID.match(caught.value.task_id)
    assert any_client.get_task(caught.value.task_id).status is TaskStatus.PENDING


def test_retry_requeues_a_failed_task(any_client: Any) -> None:
    task_id = any_client.enqueue("fail", {"permanent": True}, max_retries=0)
    with pytest.raises(TaskFailed):
        any_client.wait(task_id, timeout=15)
    failed_once = any_client.get_task(task_id)
    requeued = any_client.retry(task_id)
    assert not requeued.status.is_terminal and requeued.version > failed_once.version
    with pytest.raises(TaskFailed):
        any_client.wait(task_id, timeout=15)
    assert any_client.get_task(task_id).finished_at > failed_once.finished_at
    with pytest.raises(FailedPrecondition):
        any_client.retry(any_client.enqueue("echo", {}, delay_seconds=600))


def test_watch_follows_a_task_to_the_end(any_client: Any) -> None:
    task_id = any_client.enqueue("sleep", {"seconds": 0.5})
    snapshots = list(any_client.watch(task_id))
    assert snapshots[-1].status is TaskStatus.COMPLETED
    assert all(not s.status.is_terminal for s in snapshots[:-1])
    versions = [s.version for s in snapshots]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    progress = [s.progress for s in snapshots if s.status is TaskStatus.PROCESSING]
    assert progress == sorted(progress) and max(progress) == 100


def test_watch_of_a_finished_task_yields_it_once(any_client: Any) -> None:
    task_id = any_client.enqueue("echo", {"x": 1})
    any_client.wait(task_id, timeout=15)
    assert [s.status for s in any_client.watch(task_id)] == [TaskStatus.COMPLETED]


def test_list_tasks_walks_every_page_lazily(any_client: Any, idle_queue: str) -> None:
    ids = any_client.enqueue_many(
        [{"task_type": "echo", "task_data": {"i": i}, "queue": idle_queue} for i in range(23)]
    )
    listed = [t.id for t in any_client.list_tasks(idle_queue, page_size=5)]
    assert sorted(listed) == sorted(ids) and len(listed) == 23
    first_three = [t.id for t in islice(any_client.list_tasks(idle_queue, page_size=2), 3)]
    assert first_three == listed[:3]
    pending = list(any_client.list_tasks(idle_queue, status="pending", task_type="echo"))
    assert len(pending) == 23
    any_client.cancel(ids[0])
    cancelled = list(any_client.list_tasks(idle_queue, status=TaskStatus.CANCELLED))
    assert [t.id for t in cancelled] == [ids[0]]


def test_stats_counts_per_type_with_filters(any_client: Any, idle_queue: str) -> None:
    any_client.enqueue_many(
        [{"task_type": "echo", "queue": idle_queue}] * 3
        + [{"task_type": "sleep", "queue": idle_queue, "delay_seconds": 600}]
    )
    stats = any_client.stats(queue=idle_queue)
    assert set(stats) == {"echo", "sleep"}
    assert (stats["echo"].pending, stats["sleep"].scheduled) == (3, 1)
    only_echo = any_client.stats(task_type="echo", queue=idle_queue)
    assert set(only_echo) == {"echo"} and only_echo["echo"] == stats["echo"]


def test_errors_keep_the_server_message(any_client: Any) -> None:
    missing = "default-" + "0" * 32
    with pytest.raises(NotFound) as not_found:
        any_client.get_task(missing)
    assert missing in not_found.value.message and str(not_found.value).startswith("not found: ")
    with pytest.raises(InvalidArgument) as bad_id:
        any_client.get_task("not-a-task-id")
    assert "task_id" in bad_id.value.message
    with pytest.raises(InvalidArgument) as unknown_type:
        any_client.enqueue("no_such_type", {})
    assert "no_such_type" in unknown_type.value.message
    with pytest.raises(InvalidArgument) as bad_priority:
        any_client.enqueue("echo", {}, priority=5000)
    assert "priority" in bad_priority.value.message


def test_local_mistakes_fail_before_sending(any_client: Any) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        any_client.enqueue("echo", {}, run_at=datetime(2030, 1, 1))
    with pytest.raises(TypeError, match="JSON object"):
        any_client.enqueue("echo", ["not", "an", "object"])
    with pytest.raises(TypeError, match="unknown enqueue option"):
        any_client.enqueue("echo", {}, priorty=3)
