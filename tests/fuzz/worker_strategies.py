"""Hypothesis strategies for hostile WorkerService requests: every field, valid or not.

Real leases (task id and token pairs the fuzz obtained from LeaseTasks) are drawn often, so
calls get past validation into the engine's fencing; forged and mismatched ones test it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from taskqueue.v1 import worker_pb2 as wpb

from tests.fuzz.strategies import (
    Call,
    hostile_text,
    int32,
    queue_names,
    seconds,
    task_data,
    task_types,
    timestamps,
)

REMOTE_QUEUE = "fuzz_remote"  # no server's pool or timers serve it: only the fuzz moves it


@dataclass
class KnownLeases:
    """Leases seen so far, as (task id, lease token)."""

    leases: list[tuple[str, str]] = field(
        default_factory=lambda: [(f"{REMOTE_QUEUE}-{'0' * 32}", "1")]
    )


def lease_refs(known: KnownLeases) -> st.SearchStrategy[tuple[str, str]]:
    pick = st.integers(0, 10**6).map(lambda i: known.leases[i % len(known.leases)])
    other_token = st.tuples(pick, st.integers(-3, 2**70)).map(lambda t: (t[0][0], str(t[1])))
    hostile = st.tuples(st.one_of(pick.map(lambda p: p[0]), hostile_text), hostile_text)
    return st.one_of(pick, pick, other_token, hostile)


def worker_calls(known: KnownLeases) -> st.SearchStrategy[Call]:
    """(method name, request) for any RPC of WorkerService."""
    refs = lease_refs(known)
    worker_ids = st.one_of(st.sampled_from(["fuzz-w", "fuzz-w:1"]), hostile_text)
    queues = st.lists(st.one_of(st.just(REMOTE_QUEUE), queue_names), max_size=3)
    types = st.lists(st.one_of(st.just("echo"), task_types), max_size=3)
    leases = st.one_of(st.sampled_from([0.0, 1.0, 30.0, 3600.0]), seconds)
    # Mostly short waits: a long poll holds the call until its deadline.
    waits = st.one_of(st.just(0.0), st.floats(0, 0.3), seconds)

    def with_ref(build: Any, **more: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.builds(
            lambda ref, **kw: build(task_id=ref[0], lease_token=ref[1], **kw), refs, **more
        )

    def fail(**kw: Any) -> wpb.FailTaskRequest:
        after = kw.pop("retry_after_seconds")
        request = wpb.FailTaskRequest(**kw)
        if after is not None:
            request.retry_after_seconds = after
        return request

    def outcome(ref: tuple[str, str], result: Any, failure: Any) -> wpb.TaskOutcome:
        item = wpb.TaskOutcome(task_id=ref[0], lease_token=ref[1])
        if failure is not None:
            item.failure.CopyFrom(failure)
        elif result is not None:
            item.result.CopyFrom(result)
        return item

    # Names the server matches against permanent_errors; sometimes past the 64-name limit.
    error_types = st.one_of(
        st.lists(
            st.one_of(st.sampled_from(["RuntimeError", "Exception"]), hostile_text), max_size=3
        ),
        st.lists(st.just("Error"), min_size=60, max_size=70),
    )
    failures = st.builds(
        lambda error, permanent, after, names: wpb.TaskFailure(
            error=error, permanent=permanent, error_types=names,
            **({} if after is None else {"retry_after_seconds": after}),
        ),
        hostile_text, st.booleans(), st.none() | seconds, error_types,
    )  # fmt: skip
    outcomes = st.builds(outcome, refs, st.none() | task_data, st.none() | failures)
    heartbeat = st.builds(
        wpb.WorkerHeartbeat, host=hostile_text, queues=queues, task_types=types,
        concurrency=int32, started_at=timestamps(),
    )  # fmt: skip
    by_method: dict[str, st.SearchStrategy[Any]] = {
        "LeaseTasks": st.one_of(
            st.builds(
                wpb.LeaseTasksRequest, worker_id=worker_ids, queues=queues, task_types=types,
                max_tasks=st.one_of(st.integers(0, 5), int32), lease_seconds=leases,
                wait_seconds=waits,
            ),
            # A sane request now and then, so the fuzz holds real leases to report on.
            st.builds(
                wpb.LeaseTasksRequest, worker_id=st.just("fuzz-w"), queues=st.just([REMOTE_QUEUE]),
                task_types=st.just(["echo"]), max_tasks=st.integers(1, 3),
            ),
        ),
        "RenewLeases": st.builds(
            lambda ids, refs, lease, beat: wpb.RenewLeasesRequest(
                worker_id=ids, lease_seconds=lease, heartbeat=beat,
                leases=[wpb.TaskLease(task_id=t, lease_token=k) for t, k in refs],
            ),
            worker_ids, st.lists(refs, max_size=4), leases, st.none() | heartbeat,
        ),
        "CompleteTask": with_ref(wpb.CompleteTaskRequest, result=task_data),
        "FailTask": with_ref(
            fail, error=hostile_text, permanent=st.booleans(),
            retry_after_seconds=st.none() | seconds, error_types=error_types,
        ),
        "FinishTasks": st.builds(
            wpb.FinishTasksRequest, worker_id=worker_ids, outcomes=st.lists(outcomes, max_size=4),
            queues=queues, task_types=types, max_tasks=st.one_of(st.integers(0, 3), int32),
            lease_seconds=leases,
        ),
        "ReleaseTask": with_ref(wpb.ReleaseTaskRequest),
        "ReportProgress": with_ref(
            wpb.ReportProgressRequest, progress=st.one_of(st.integers(0, 100), int32),
            message=hostile_text,
        ),
        "ListWorkers": st.just(wpb.ListWorkersRequest()),
    }
    return st.sampled_from(sorted(by_method)).flatmap(
        lambda name: by_method[name].map(lambda request: (name, request))
    )
