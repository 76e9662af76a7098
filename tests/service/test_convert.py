"""Conversions between messages and engine models keep every field."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from taskqueue.v1 import taskqueue_pb2 as pb
from taskqueue_server.engine.models import Status, TaskRecord, TaskResult, Total, TypeStats
from taskqueue_server.service.convert import (
    STATUS_TO_PROTO,
    result_to_proto,
    stats_to_proto,
    status_from_proto,
    task_to_proto,
)
from taskqueue_server.service.structs import struct_to_dict
from taskqueue_server.service.validation import InvalidArgument

HEX = "0123456789abcdef" * 2


def test_every_status_maps_both_ways() -> None:
    assert set(STATUS_TO_PROTO) == set(Status)
    for status in Status:
        assert status_from_proto(STATUS_TO_PROTO[status]) is status
    assert status_from_proto(pb.TASK_STATUS_UNSPECIFIED) is None
    with pytest.raises(InvalidArgument):
        status_from_proto(99)


def test_struct_round_trip_keeps_ints_as_ints() -> None:
    data = {"n": 3, "x": 2.5, "s": "hé", "b": True, "z": None, "l": [1, {"k": [ ]}], "o": {}}
    struct = struct_pb2.Struct()
    struct.update(data)
    back = struct_to_dict(struct)
    assert back == data
    assert isinstance(back["n"], int)
    assert isinstance(back["x"], float)


def test_task_record_to_proto_keeps_every_field() -> None:
    record = TaskRecord(
        id=f"default-{HEX}", queue="default", task_type="echo", task_data={"a": 1},
        status=Status.PROCESSING, priority=-3, attempts=2, max_retries=5,
        created_at_ms=1_700_000_000_123, updated_at_ms=1_700_000_001_000,
        run_at_ms=1_700_000_000_123, started_at_ms=1_700_000_000_500, finished_at_ms=0,
        last_error="boom", progress=40, progress_message="step 4", idempotency_key="k",
        depends_on=(f"default-{HEX}",), timeout_seconds=1.5, redeliveries=1, version=9,
    )
    task = task_to_proto(record)
    assert task.id == record.id and task.queue == "default" and task.task_type == "echo"
    assert task.status == pb.TASK_STATUS_PROCESSING
    assert (task.priority, task.attempts, task.max_retries) == (-3, 2, 5)
    assert task.created_at.ToMilliseconds() == 1_700_000_000_123
    assert task.started_at.ToMilliseconds() == 1_700_000_000_500
    assert not task.HasField("finished_at")
    assert struct_to_dict(task.task_data) == {"a": 1}
    assert (task.last_error, task.progress, task.progress_message) == ("boom", 40, "step 4")
    assert list(task.depends_on) == [f"default-{HEX}"]
    assert (task.timeout_seconds, task.redeliveries, task.version) == (1.5, 1, 9)


def test_an_empty_result_is_present_and_a_missing_one_is_absent() -> None:
    done = result_to_proto(TaskResult(f"default-{HEX}", Status.COMPLETED, {}, ""))
    assert done.HasField("result") and done.status == pb.TASK_STATUS_COMPLETED
    pending = result_to_proto(TaskResult(f"default-{HEX}", Status.PENDING, None, ""))
    assert not pending.HasField("result")


def test_stats_map_every_status_and_total_to_its_field() -> None:
    counts = {status: index + 1 for index, status in enumerate(Status)}
    totals = {total: index + 100 for index, total in enumerate(Total)}
    response = stats_to_proto({"echo": TypeStats(counts, totals)})
    entry = response.task_types["echo"]
    for status, count in counts.items():
        assert getattr(entry, status.value) == count
    for total, count in totals.items():
        assert getattr(entry, f"{total.value}_total") == count


def test_a_given_struct_is_copied_as_the_task_data() -> None:
    record = TaskRecord(
        id=f"default-{HEX}", queue="default", task_type="echo", task_data={"a": 1},
        status=Status.PENDING, priority=0, attempts=0, max_retries=3,
        created_at_ms=1, updated_at_ms=1, run_at_ms=1,
    )
    given = struct_pb2.Struct()
    given.update({"a": 1})
    assert task_to_proto(record, given).task_data == task_to_proto(record).task_data
