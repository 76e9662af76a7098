"""Following one task across dropped WatchTask streams; shared by both clients.

A stream drops when its server restarts, a load balancer or proxy cuts it, or the network
fails. Each new stream asks the server only for states after the last version handed to the
caller (`after_version`), so the caller sees no state twice and misses no change made while
it was connected; changes made while it was not arrive as the task's current state.
"""

from __future__ import annotations

import random
import time
from typing import Any

import grpc
from taskqueue.v1 import taskqueue_pb2 as pb

from ._channel import RetryPolicy
from ._convert import task_from_proto
from .errors import ServiceError, Unavailable
from .models import Task, TaskStatus

# How long a watch keeps trying to resume after losing its stream, if no state arrives.
RESUME_SECONDS = 30.0


class WatchResume:
    """The requests, filtering and reconnect pauses of one `watch()` call.

    `timeout` bounds the whole watch, resumes included; `retry` (None: never resume) gives
    the backoff between attempts: full jitter below initial_backoff * multiplier**n, capped.
    """

    def __init__(self, task_id: str, timeout: float | None, retry: RetryPolicy | None) -> None:
        self._task_id = task_id
        self._deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        self._retry = retry
        self.last: Task | None = None
        self._stream_started = 0.0
        self._delivered = False  # the current stream handed out a state
        self._outage_started: float | None = None
        self._attempt = 0

    def request(self) -> pb.WatchTaskRequest:
        """The request for the next stream: states after the last one handed out."""
        self._stream_started = time.monotonic()
        self._delivered = False
        after = self.last.version if self.last is not None else 0
        return pb.WatchTaskRequest(task_id=self._task_id, after_version=after)

    def stream_timeout(self) -> float | None:
        """The deadline left for the next stream."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def take(self, response: Any) -> Task | None:
        """The task state to hand out, or None for one the caller has seen already
        (a server older than after_version sends the current state again)."""
        task = task_from_proto(response.task)
        if self.last is not None and task.version <= self.last.version:
            return None
        self.last = task
        self._delivered = True
        return task

    def pause_before_resume(self, error: ServiceError | None) -> float | None:
        """Seconds to wait before the next stream, None when the watch is over, or raises.

        `error` ended the stream; None means it ended without one. A server ends a stream
        on its own only after a terminal state, so an end before one is a cut stream, as
        is UNAVAILABLE. A status this client does not know ends the watch when the server
        ends the stream after it (it can only be a newer terminal status).
        """
        last = self.last
        if error is None:
            if last is not None and (last.status.is_terminal or last.status is TaskStatus.UNKNOWN):
                return None
            error = Unavailable(
                grpc.StatusCode.UNAVAILABLE,
                f"the watch of task {self._task_id} ended before the task did",
            )
        if self._retry is None or not isinstance(error, Unavailable):
            raise error
        now = time.monotonic()
        long_lived = now - self._stream_started >= RESUME_SECONDS
        if self._outage_started is None or self._delivered or long_lived:
            self._outage_started, self._attempt = now, 0
        policy = self._retry
        ceiling = min(policy.max_backoff, policy.initial_backoff * policy.multiplier**self._attempt)
        self._attempt += 1
        pause = random.uniform(0.0, ceiling)
        resume_at = now + pause
        out_of_time = self._deadline is not None and resume_at >= self._deadline
        if out_of_time or resume_at - self._outage_started > RESUME_SECONDS:
            raise error
        return pause
