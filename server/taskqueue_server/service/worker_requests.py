"""WorkerService requests -> checked engine arguments, and engine models -> messages.

No I/O here. Every refusal is an `InvalidArgument` naming the field, as for the caller RPCs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from google.protobuf import struct_pb2
from taskqueue.v1 import worker_pb2 as wpb

from ..engine.models import ClaimedTask, Lease, Outcome, WorkerInfo
from .structs import fill_struct, struct_to_dict
from .validation import (
    InvalidArgument,
    _shorten,
    check_queue,
    check_seconds,
    check_task_type,
    check_timestamp_ms,
    parse_task_id,
)

# The task-type alphabet: room for "<host>:<pid>" and uuids.
_WORKER_ID_RE = re.compile(r"\A[A-Za-z0-9_.:\-]{1,128}\Z")
_TOKEN_RE = re.compile(r"\A[1-9][0-9]{0,17}\Z")
MAX_LEASE_SECONDS = 3600.0
MIN_LEASE_SECONDS = 1.0
MAX_LEASE_WAIT_SECONDS = 3600.0
MAX_TASKS_PER_LEASE = 1000
MAX_QUEUES = 100
MAX_TASK_TYPES = 1000
MAX_RENEWALS = 10_000
MAX_ERROR_CHARS = 2000
MAX_PROGRESS_MESSAGE_CHARS = 1000
MAX_HOST_CHARS = 255
MAX_CONCURRENCY = 1_000_000
MAX_RETRY_AFTER_SECONDS = 365 * 24 * 3600.0
# A failure's error_types: an MRO or prototype chain is rarely 10 deep; names such as
# Java's qualified ones stay well under the length.
MAX_ERROR_TYPES = 64
MAX_ERROR_TYPE_CHARS = 200


@dataclass(frozen=True, slots=True)
class LeaseAsk:
    """A checked LeaseTasksRequest; `lease_ms` None means the server's lease."""

    worker_id: str
    queues: tuple[str, ...]
    task_types: tuple[str, ...]
    count: int
    lease_ms: int | None
    wait_seconds: float


@dataclass(frozen=True, slots=True)
class Reported:
    """A checked outcome and what the server still decides from the task's retry policy:
    its backoff delay (`backoff`), and whether one of `error_types` makes it permanent."""

    outcome: Outcome
    backoff: bool = False
    error_types: tuple[str, ...] = ()

    @property
    def needs_policy(self) -> bool:
        return self.backoff or bool(self.error_types)


def check_worker_id(worker_id: str, field: str = "worker_id") -> str:
    if not worker_id:
        raise InvalidArgument(field, "a worker id is required, such as '<host>:<pid>'")
    if not _WORKER_ID_RE.match(worker_id):
        raise InvalidArgument(
            field, f"{_shorten(worker_id)} is not a worker id (1-128 of A-Z a-z 0-9 _ . : -)"
        )
    return worker_id


def check_lease_ms(seconds: float, field: str = "lease_seconds") -> int | None:
    """None for 0 (the server's lease); else 1 to 3600 seconds as milliseconds."""
    if seconds == 0:
        return None
    check_seconds(seconds, field, MAX_LEASE_SECONDS)
    if seconds < MIN_LEASE_SECONDS:
        raise InvalidArgument(field, f"{seconds:g} is less than {MIN_LEASE_SECONDS:g} second")
    return int(seconds * 1000)


def lease_of(task_id: str, token: str, prefix: str = "") -> Lease:
    parse_task_id(task_id, prefix + "task_id")
    if not _TOKEN_RE.match(token):
        raise InvalidArgument(
            prefix + "lease_token",
            f"{_shorten(token)} is not a lease token; send the one LeaseTasks returned",
        )
    return Lease(task_id, int(token))


def lease_ask(request: wpb.LeaseTasksRequest) -> LeaseAsk:
    if not request.task_types:
        raise InvalidArgument("task_types", "name at least one task type this worker can run")
    count = request.max_tasks or 1
    if not 1 <= count <= MAX_TASKS_PER_LEASE:
        raise InvalidArgument(
            "max_tasks", f"{count} is out of range; use 1 to {MAX_TASKS_PER_LEASE}"
        )
    return LeaseAsk(
        worker_id=check_worker_id(request.worker_id),
        queues=_queues(request.queues, "queues") or ("default",),
        task_types=_task_types(request.task_types, "task_types"),
        count=count,
        lease_ms=check_lease_ms(request.lease_seconds),
        wait_seconds=check_seconds(request.wait_seconds, "wait_seconds", MAX_LEASE_WAIT_SECONDS),
    )


def renewals(request: wpb.RenewLeasesRequest) -> list[Lease]:
    check_worker_id(request.worker_id)
    if len(request.leases) > MAX_RENEWALS:
        raise InvalidArgument(
            "leases", f"{len(request.leases)} leases; the limit is {MAX_RENEWALS}"
        )
    return [
        lease_of(item.task_id, item.lease_token, f"leases[{index}].")
        for index, item in enumerate(request.leases)
    ]


def heartbeat_of(request: wpb.RenewLeasesRequest, running: int, lease_ms: int) -> WorkerInfo:
    """The worker as ListWorkers will show it, from a RenewLeases carrying a heartbeat."""
    beat = request.heartbeat
    if len(beat.host) > MAX_HOST_CHARS:
        raise InvalidArgument("heartbeat.host", f"is longer than {MAX_HOST_CHARS} characters")
    if not 0 <= beat.concurrency <= MAX_CONCURRENCY:
        raise InvalidArgument("heartbeat.concurrency", f"{beat.concurrency} is out of range")
    started = beat.started_at
    return WorkerInfo(
        worker_id=request.worker_id,
        host=beat.host,
        queues=_queues(beat.queues, "heartbeat.queues"),
        task_types=_task_types(beat.task_types, "heartbeat.task_types"),
        concurrency=beat.concurrency,
        running=running,
        started_at_ms=check_timestamp_ms(started.seconds, started.nanos, "heartbeat.started_at"),
        lease_seconds=lease_ms / 1000,
        in_process=False,
    )


def completion(request: wpb.CompleteTaskRequest, max_bytes: int) -> Outcome:
    lease = lease_of(request.task_id, request.lease_token)
    return result_outcome(lease, request.result, max_bytes, "result")


def result_outcome(lease: Lease, result: struct_pb2.Struct, max_bytes: int, field: str) -> Outcome:
    encoded = orjson.dumps(struct_to_dict(result, field))
    if len(encoded) > max_bytes:
        raise InvalidArgument(field, f"{len(encoded)} bytes as JSON; the limit is {max_bytes}")
    return Outcome(lease, result_json=encoded.decode())


def failure_outcome(
    lease: Lease, failure: wpb.FailTaskRequest | wpb.TaskFailure, prefix: str = ""
) -> Reported:
    """The failed attempt; a permanent one needs no retry policy, so its error_types are
    checked but not kept."""
    if not failure.error.strip():
        raise InvalidArgument(
            prefix + "error", "say why the attempt failed; an empty error is refused"
        )
    delay_ms = 0
    if failure.HasField("retry_after_seconds"):
        seconds = check_seconds(
            failure.retry_after_seconds, prefix + "retry_after_seconds", MAX_RETRY_AFTER_SECONDS
        )
        delay_ms = int(seconds * 1000)
    names = _error_types(failure.error_types, prefix + "error_types")
    outcome = Outcome(
        lease,
        error=failure.error[:MAX_ERROR_CHARS],
        permanent=failure.permanent,
        retry_delay_ms=delay_ms,
    )
    if failure.permanent:
        return Reported(outcome)
    return Reported(outcome, not failure.HasField("retry_after_seconds"), names)


def finish_ask(
    request: wpb.FinishTasksRequest, max_bytes: int
) -> tuple[list[Reported], LeaseAsk | None]:
    """The outcomes and the next lease, if any."""
    worker_id = check_worker_id(request.worker_id)
    if len(request.outcomes) > MAX_TASKS_PER_LEASE:
        raise InvalidArgument(
            "outcomes", f"{len(request.outcomes)} outcomes; the limit is {MAX_TASKS_PER_LEASE}"
        )
    outcomes: list[Reported] = []
    for index, item in enumerate(request.outcomes):
        prefix = f"outcomes[{index}]."
        lease = lease_of(item.task_id, item.lease_token, prefix)
        kind = item.WhichOneof("outcome")
        if kind == "result":
            result = result_outcome(lease, item.result, max_bytes, prefix + "result")
            outcomes.append(Reported(result))
        elif kind == "failure":
            outcomes.append(failure_outcome(lease, item.failure, prefix + "failure."))
        else:
            raise InvalidArgument(prefix[:-1], "set either result or failure")
    if not 0 <= request.max_tasks <= MAX_TASKS_PER_LEASE:
        raise InvalidArgument(
            "max_tasks", f"{request.max_tasks} is out of range; use 0 to {MAX_TASKS_PER_LEASE}"
        )
    if request.max_tasks == 0:
        return outcomes, None
    if not request.task_types:
        raise InvalidArgument("task_types", "name at least one task type to lease more tasks")
    lease_ask = LeaseAsk(
        worker_id=worker_id,
        queues=_queues(request.queues, "queues") or ("default",),
        task_types=_task_types(request.task_types, "task_types"),
        count=request.max_tasks,
        lease_ms=check_lease_ms(request.lease_seconds),
        wait_seconds=0.0,
    )
    return outcomes, lease_ask


def progress_of(request: wpb.ReportProgressRequest) -> tuple[Lease, int, str]:
    lease = lease_of(request.task_id, request.lease_token)
    if not 0 <= request.progress <= 100:
        raise InvalidArgument("progress", f"{request.progress} is out of range; use 0 to 100")
    if len(request.message) > MAX_PROGRESS_MESSAGE_CHARS:
        raise InvalidArgument(
            "message", f"is {len(request.message)} characters; the limit is "
            f"{MAX_PROGRESS_MESSAGE_CHARS}"
        )  # fmt: skip
    return lease, request.progress, request.message


def leased_to_proto(task: ClaimedTask, expires_ms: int) -> wpb.LeasedTask:
    leased = wpb.LeasedTask(
        task_id=task.lease.task_id,
        queue=task.queue,
        task_type=task.task_type,
        attempt=task.attempt,
        max_retries=task.max_retries,
        timeout_seconds=task.timeout_seconds,
        lease_token=str(task.lease.token),
    )
    fill_struct(leased.task_data, task.task_data)
    fill_struct(leased.dependency_results, task.dependency_results)
    leased.lease_expires_at.FromMilliseconds(expires_ms)
    return leased


def worker_to_proto(worker: WorkerInfo) -> wpb.WorkerInfo:
    info = wpb.WorkerInfo(
        worker_id=worker.worker_id,
        host=worker.host,
        queues=worker.queues,
        task_types=worker.task_types,
        concurrency=worker.concurrency,
        running=worker.running,
        in_process=worker.in_process,
    )
    info.started_at.FromMilliseconds(worker.started_at_ms)
    info.last_seen_at.FromMilliseconds(worker.last_seen_ms)
    return info


def _queues(names: Sequence[str], field: str) -> tuple[str, ...]:
    if len(names) > MAX_QUEUES:
        raise InvalidArgument(field, f"{len(names)} queues; the limit is {MAX_QUEUES}")
    return tuple(dict.fromkeys(check_queue(q, f"{field}[{i}]") for i, q in enumerate(names)))


def _task_types(names: Sequence[str], field: str) -> tuple[str, ...]:
    if len(names) > MAX_TASK_TYPES:
        raise InvalidArgument(field, f"{len(names)} task types; the limit is {MAX_TASK_TYPES}")
    return tuple(dict.fromkeys(check_task_type(t, f"{field}[{i}]") for i, t in enumerate(names)))


def _error_types(names: Sequence[str], field: str) -> tuple[str, ...]:
    if len(names) > MAX_ERROR_TYPES:
        raise InvalidArgument(field, f"{len(names)} names; the limit is {MAX_ERROR_TYPES}")
    for index, name in enumerate(names):
        if not 1 <= len(name) <= MAX_ERROR_TYPE_CHARS:
            raise InvalidArgument(
                f"{field}[{index}]",
                f"is {len(name)} characters; an error type name has 1 to "
                f"{MAX_ERROR_TYPE_CHARS}, such as 'ValueError'",
            )
    return tuple(names)
