"""A task's timeline from the times its record stores (the engine keeps no transition log)."""

from __future__ import annotations

from dataclasses import replace

from taskqueue_server.engine.models import Status, TaskRecord
from taskqueue_server.http.timeline import timeline

CREATED = 1_800_000_000_000
TASK = TaskRecord(
    id="default-" + "0" * 32, queue="default", task_type="echo", task_data={},
    status=Status.PENDING, priority=3, attempts=0, max_retries=3,
    created_at_ms=CREATED, updated_at_ms=CREATED, run_at_ms=CREATED,
)


def test_a_pending_task_was_only_created() -> None:
    assert timeline(TASK) == [(CREATED, "created in queue default, priority 3")]


def test_a_task_failed_after_its_retries() -> None:
    failed = replace(
        TASK, status=Status.FAILED, attempts=4, started_at_ms=CREATED + 9000,
        finished_at_ms=CREATED + 9500, updated_at_ms=CREATED + 9500, last_error="boom",
        run_at_ms=CREATED + 8000, redeliveries=1,
    )
    assert [event for _, event in timeline(failed)] == [
        "created in queue default, priority 3",
        "due to run",
        "attempt 4 started (3 earlier attempts failed); redelivered 1x after lost leases",
        "failed: boom",
    ]


def test_a_retrying_task_says_when_its_next_attempt_is_due() -> None:
    retrying = replace(
        TASK, status=Status.RETRYING, attempts=1, started_at_ms=CREATED + 10,
        updated_at_ms=CREATED + 20, run_at_ms=CREATED + 1020, last_error="timeout",
    )
    assert timeline(retrying) == [
        (CREATED, "created in queue default, priority 3"),
        (CREATED + 10, "attempt 1 started"),
        (CREATED + 20, "retrying: timeout"),
        (CREATED + 1020, "retry due (attempt 2 of 4)"),
    ]


def test_progress_of_a_running_task() -> None:
    running = replace(
        TASK, status=Status.PROCESSING, attempts=1, started_at_ms=CREATED + 10,
        updated_at_ms=CREATED + 500, progress=40, progress_message="tile 2 of 5",
    )
    assert timeline(running)[-1] == (CREATED + 500, "progress 40%: tile 2 of 5")
