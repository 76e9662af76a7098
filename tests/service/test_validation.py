"""Request checks that need no Redis: every refusal names the field and what to do."""

from __future__ import annotations

import math

import pytest
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.config.settings import RequestLimits
from taskqueue_server.engine.errors import ErrorCode
from taskqueue_server.engine.models import DEFAULT_MAX_RETRIES, NewTask
from taskqueue_server.service.convert import new_task_from_request, new_tasks_from_batch
from taskqueue_server.service.validation import (
    InvalidArgument,
    check_page_size,
    check_queue,
    parse_task_id,
)
from taskqueue_server.worker.registry import Registration

HEX = "0123456789abcdef" * 2


def _noop(task_data: dict[str, object], ctx: object) -> None:
    return None


def _needs_to(task_data: dict[str, object]) -> None:
    if "@" not in str(task_data.get("to", "")):
        raise ValueError("to must be an e-mail address")


REGISTRY = {
    "echo": Registration("echo", _noop, False),
    "send_email": Registration("send_email", _noop, False, _needs_to),
}
LIMITS = RequestLimits(max_task_data_bytes=1000, max_batch_size=3)


def build(**fields: object) -> NewTask:
    fields.setdefault("task_type", "echo")
    request = pb.EnqueueRequest(**fields)  # type: ignore[arg-type]
    return new_task_from_request(request, LIMITS, REGISTRY)


def refused(**fields: object) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        build(**fields)
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    return info.value


def test_parse_task_id_returns_the_queue() -> None:
    assert parse_task_id(f"default-{HEX}") == "default"
    assert parse_task_id(f"a.b_c-{HEX}") == "a.b_c"


@pytest.mark.parametrize(
    "bad",
    ["", "default", f"default-{HEX.upper()}", f"default-{HEX}0", f"de-fault-{HEX}",
     f"-{HEX}", f"{'q' * 65}-{HEX}", f"default-{HEX}\n", f"q:x-{HEX}"],
)
def test_parse_task_id_refuses_malformed_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="task_id"):
        parse_task_id(bad)


def test_queue_defaults_and_refuses_bad_names() -> None:
    assert check_queue("") == "default"
    assert check_queue("emails.high") == "emails.high"
    with pytest.raises(InvalidArgument, match="not a queue name"):
        check_queue("a{b}")


def test_a_valid_request_becomes_a_new_task() -> None:
    task = build(
        task_type="echo", priority=7, delay_seconds=1.5, idempotency_key="k1",
        queue="q1", timeout_seconds=2.0, depends_on=[f"q1-{HEX}"],
    )
    assert task.task_type == "echo"
    assert (task.priority, task.delay_seconds, task.queue) == (7, 1.5, "q1")
    assert task.max_retries == DEFAULT_MAX_RETRIES
    assert task.depends_on == (f"q1-{HEX}",)
    assert task.run_at_ms is None


def test_max_retries_zero_is_kept_apart_from_unset() -> None:
    assert build(max_retries=0).max_retries == 0
    assert build().max_retries == DEFAULT_MAX_RETRIES


def test_run_at_becomes_milliseconds() -> None:
    task = build(run_at={"seconds": 1_700_000_000, "nanos": 250_000_000})
    assert task.run_at_ms == 1_700_000_000_250


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"task_type": ""}, "task_type"),
        ({"task_type": "   "}, "task_type"),
        ({"task_type": "has space"}, "task_type"),
        ({"priority": 1001}, "priority"),
        ({"priority": -1001}, "priority"),
        ({"max_retries": -1}, "max_retries"),
        ({"delay_seconds": -0.5}, "delay_seconds"),
        ({"delay_seconds": math.nan}, "delay_seconds"),
        ({"delay_seconds": math.inf}, "delay_seconds"),
        ({"timeout_seconds": -1.0}, "timeout_seconds"),
        ({"run_at": {"seconds": -5}}, "run_at"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
        ({"queue": "bad queue"}, "queue"),
        ({"depends_on": ["nope"]}, "depends_on[0]"),
        ({"depends_on": [f"other-{HEX}"]}, "depends_on[0]"),
        ({"depends_on": [f"default-{HEX}", f"default-{HEX}"]}, "depends_on[1]"),
    ],
)
def test_bad_fields_are_refused_by_name(fields: dict[str, object], field: str) -> None:
    assert refused(**fields).field == field


def test_a_type_without_a_local_handler_is_left_to_the_shared_check() -> None:
    # Whether any server knows it is service/task_types.py's question (it needs the store);
    # with no local handler there is no task_data validator to run here.
    task = build(task_type="elsewhere", task_data={"to": "nobody"})
    assert task.task_type == "elsewhere"


def test_task_data_over_the_limit_is_refused_with_its_size() -> None:
    error = refused(task_data={"blob": "x" * 1000})
    assert error.field == "task_data"
    assert "limit is 1000 bytes" in error.message


def test_task_data_at_the_limit_is_accepted() -> None:
    # {"blob":"..."} is 11 bytes of JSON around the string.
    assert build(task_data={"blob": "x" * (1000 - 11)}).task_data["blob"]


def test_nan_in_task_data_is_refused_with_its_path() -> None:
    request = pb.EnqueueRequest(task_type="echo")
    request.task_data.update({"a": [1, {"b": 1.0}]})
    request.task_data["a"][1]["b"] = math.nan
    with pytest.raises(InvalidArgument) as info:
        new_task_from_request(request, LIMITS, REGISTRY)
    assert info.value.field == "task_data.a[1].b"


def test_the_registration_validator_runs_and_its_message_is_returned() -> None:
    assert build(task_type="send_email", task_data={"to": "a@b.c"}).task_data == {"to": "a@b.c"}
    error = refused(task_type="send_email", task_data={"to": "nobody"})
    assert error.field == "task_data"
    assert "to must be an e-mail address" in error.message


def test_a_batch_names_the_bad_item_by_index() -> None:
    batch = pb.EnqueueBatchRequest(
        tasks=[
            pb.EnqueueRequest(task_type="echo"),
            pb.EnqueueRequest(task_type="echo", priority=5000),
        ]
    )
    with pytest.raises(InvalidArgument) as info:
        new_tasks_from_batch(batch, LIMITS, REGISTRY)
    assert info.value.message.startswith("tasks[1].priority: ")


def test_a_batch_must_share_one_queue_and_respect_its_size_limit() -> None:
    mixed = pb.EnqueueBatchRequest(
        tasks=[pb.EnqueueRequest(task_type="echo"), pb.EnqueueRequest(task_type="echo", queue="b")]
    )
    with pytest.raises(InvalidArgument, match=r"tasks\[1\]\.queue"):
        new_tasks_from_batch(mixed, LIMITS, REGISTRY)
    big = pb.EnqueueBatchRequest(tasks=[pb.EnqueueRequest(task_type="echo")] * 4)
    with pytest.raises(InvalidArgument, match="limit is 3"):
        new_tasks_from_batch(big, LIMITS, REGISTRY)
    with pytest.raises(InvalidArgument, match="at least one"):
        new_tasks_from_batch(pb.EnqueueBatchRequest(), LIMITS, REGISTRY)


def test_page_size_defaults_and_bounds() -> None:
    assert check_page_size(0) == 100
    assert check_page_size(1000) == 1000
    for bad in (-1, 1001):
        with pytest.raises(InvalidArgument, match="page_size"):
            check_page_size(bad)
