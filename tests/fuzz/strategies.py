"""Hypothesis strategies for hostile requests: every field of every RPC, valid or not.

Adversarial strings carry MARKER so a test can look for them afterwards in Redis key
names and in the commands Redis received.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from hypothesis import strategies as st
from taskqueue.v1 import taskqueue_pb2 as pb

MARKER = "zqfuzzmark"
HEX = "0123456789abcdef"


@dataclass
class Known:
    """Ids, keys and page tokens seen so far, so later requests can reuse real ones."""

    task_ids: list[str] = field(default_factory=lambda: [f"default-{'0' * 32}"])
    page_tokens: list[str] = field(default_factory=list)


# Text as a caller could send it: any Unicode but lone surrogates (protobuf refuses those
# before they leave the client), with control characters, RTL marks and NULs likely.
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=80)
nasty = st.sampled_from(
    [
        "",
        " ",
        "default",
        "\x00",
        "\r\nFLUSHALL\r\n",
        "*",
        "?",
        "[a-z]",
        "../../etc/passwd",
        "{default}",
        "default}:x",
        f"taskqueue:{{default}}:t:{MARKER}",
        f"{MARKER}:{{q}}:all",
        "‮evil",
        "\uff44\uff45\uff46\uff41\uff55\uff4c\uff54",  # fullwidth "default"
        "DEFAULT-" + "A" * 32,
        "default-" + "g" * 32,
        "default-" + "0" * 31,
        "default-" + "0" * 33,
        "-" + "0" * 32,
        "a" * 65 + "-" + "0" * 32,
        "x" * 5000,
        f"{MARKER}-{'0' * 32}",
        "'; return redis.call('FLUSHALL') --",
        "os.system('id')",
        "__import__('os')",
    ]
)
marked = any_text.map(lambda text: f"{MARKER}{text}")
hostile_text = st.one_of(any_text, nasty, marked)
queue_names = st.one_of(st.sampled_from(["", "default", "fuzz_a", "fuzz.b"]), hostile_text)
task_types = st.one_of(st.sampled_from(["echo", "fail", "sleep", "echo"]), hostile_text)
int32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 1, 1000, 1001]))
seconds = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, -1.0, 0.001, 1e-300, 1e300, math.nan, math.inf, -math.inf]),
)


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(2**63), 2**63),
        hostile_text,
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=5), st.dictionaries(hostile_text, children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(data)
    return message


task_data = st.one_of(
    st.dictionaries(hostile_text, json_values(), max_size=6),
    st.integers(1, 3_000_000).map(lambda n: {"blob": "x" * n}),  # around the 1 MiB limit
    st.just({"seconds": 0.01}),
).map(to_struct)


def timestamps() -> st.SearchStrategy[timestamp_pb2.Timestamp]:
    return st.builds(
        timestamp_pb2.Timestamp,
        seconds=st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(0, 2_000_000_000)),
        nanos=st.integers(-(2**31), 2**31 - 1),
    )


def task_ids(known: Known) -> st.SearchStrategy[str]:
    real = st.integers(0, 10**6).map(lambda i: known.task_ids[i % len(known.task_ids)])
    forged = st.text(HEX, min_size=32, max_size=32).map(lambda h: f"default-{h}")
    return st.one_of(real, real, forged, hostile_text)


def enqueue_requests(known: Known, waits: bool = False) -> st.SearchStrategy[pb.EnqueueRequest]:
    """`waits`: sensible requests sometimes wait briefly for their task (Enqueue only; a
    batch refuses any wait)."""

    def build(**kw: Any) -> pb.EnqueueRequest:
        run_at = kw.pop("run_at")
        retries = kw.pop("max_retries")
        request = pb.EnqueueRequest(**kw)
        if run_at is not None:
            request.run_at.CopyFrom(run_at)
        if retries is not None:
            request.max_retries = retries
        return request

    hostile: dict[str, st.SearchStrategy[Any]] = {
        "task_type": task_types,
        "task_data": task_data,
        "priority": int32,
        "max_retries": st.none() | int32,
        "delay_seconds": seconds,
        "run_at": st.none() | timestamps(),
        "idempotency_key": hostile_text,
        "queue": queue_names,
        "timeout_seconds": seconds,
        "depends_on": st.lists(task_ids(known), max_size=4),
        # Refused values, or a valid one short enough for the call's deadline.
        "wait_seconds": st.sampled_from(
            [-1.0, math.nan, math.inf, -math.inf, 3601.0, 1e300, 0.001]
        ),
    }
    # Mostly sensible values, so requests get past the first check and reach the engine.
    sane: dict[str, st.SearchStrategy[Any]] = {
        "task_type": st.sampled_from(["echo", "echo", "fail", "sleep"]),
        "task_data": st.dictionaries(st.sampled_from(["a", MARKER, "seconds"]), json_values(8))
        .filter(lambda d: not isinstance(d.get("seconds", 0), float) or d["seconds"] < 0.05)
        .map(to_struct),
        "priority": st.integers(-1000, 1000),
        "max_retries": st.none() | st.integers(0, 2),
        "delay_seconds": st.sampled_from([0.0, 0.0, 0.05, 3600.0]),
        "run_at": st.none(),
        # A small pool of keys, so duplicates (same key, other payload) happen often.
        "idempotency_key": st.sampled_from(["", "", "k1", "k2", f"{MARKER}-k"]),
        "queue": st.sampled_from(["", "default", "fuzz_a"]),
        "timeout_seconds": st.sampled_from([0.0, 5.0]),
        "depends_on": st.lists(
            st.integers(0, 10**6).map(lambda i: known.task_ids[i % len(known.task_ids)]),
            max_size=2,
        ),
        # Mostly no wait; a short one now and then, so the fuzz waits in Enqueue too.
        "wait_seconds": st.sampled_from([0.0, 0.0, 0.0, 0.02] if waits else [0.0]),
    }

    def one_hostile(field: str | None) -> st.SearchStrategy[pb.EnqueueRequest]:
        chosen = {name: (hostile if name == field else sane)[name] for name in sane}
        return st.builds(build, **chosen)

    everything_hostile = st.builds(build, **hostile)
    return st.one_of(st.sampled_from([None, None, *sane]).flatmap(one_hostile), everything_hostile)


Call = tuple[str, Any]


def calls(known: Known) -> st.SearchStrategy[Call]:
    """(method name, request) for any RPC of TaskQueueService."""
    ids = task_ids(known)
    # Same draws whatever `known` holds, so Hypothesis can replay and shrink an example.
    pages = st.tuples(st.integers(0, 10**6), st.integers(0, 3), st.integers(0, 10**6)).map(
        lambda t: _tampered(
            known.page_tokens[t[0] % len(known.page_tokens)] if known.page_tokens else "",
            t[1],
            t[2],
        )
    )
    tokens = st.one_of(pages, hostile_text)

    def one(name: str, requests: st.SearchStrategy[Any]) -> tuple[str, st.SearchStrategy[Call]]:
        return name, requests.map(lambda request: (name, request))

    by_method = dict(
        [
            one("Enqueue", enqueue_requests(known, waits=True)),
            one(
                "EnqueueBatch",
                st.builds(
                    pb.EnqueueBatchRequest,
                    tasks=st.lists(enqueue_requests(known), max_size=4),
                    ids_only=st.booleans(),
                ),
            ),
            one("GetTask", st.builds(pb.GetTaskRequest, task_id=ids)),
            one(
                "GetResult",
                st.builds(
                    pb.GetResultRequest,
                    task_id=ids,
                    wait_seconds=st.one_of(st.just(0.0), seconds, st.floats(0, 1.5)),
                ),
            ),
            one("WatchTask", st.builds(pb.WatchTaskRequest, task_id=ids)),
            one("CancelTask", st.builds(pb.CancelTaskRequest, task_id=ids)),
            one("RetryTask", st.builds(pb.RetryTaskRequest, task_id=ids)),
            one(
                "ListTasks",
                st.builds(
                    pb.ListTasksRequest,
                    queue=queue_names,
                    task_type=st.one_of(st.just(""), task_types),
                    status=st.one_of(st.integers(0, 8), st.integers(-5, 2**31 - 1)),
                    page_size=int32,
                    page_token=tokens,
                ),
            ),
            one(
                "Stats",
                st.builds(pb.StatsRequest, task_type=st.just("") | task_types, queue=queue_names),
            ),
        ]
    )
    # Uniform over methods: one_of favours its first branches.
    return st.sampled_from(sorted(by_method)).flatmap(by_method.__getitem__)


def _tampered(token: str, how: int, where: int) -> str:
    """The token itself, or with one character changed, cut short or extended."""
    if not token or how == 0:
        return token
    at = where % len(token)
    if how == 1:
        return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    if how == 2:
        return token[:at]
    return token + "=="
