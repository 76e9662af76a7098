"""WorkerService over grpc.aio: workers in any language lease and report tasks.

An adapter only: it checks the request (worker_requests.py), calls the engine's worker
side, the same calls the in-process pool makes, and converts back. Fencing, the redelivery
cap and the retry budget live in the engine's scripts, so both kinds of worker obey them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from taskqueue.v1 import worker_pb2 as wpb
from taskqueue.v1 import worker_pb2_grpc as wpb_grpc

from ..engine.api import Engine
from ..engine.coalesce import Coalescer
from ..engine.errors import EngineError, ErrorCode, TaskNotFound
from ..engine.models import ClaimedTask, Lease, Outcome, Status
from ..worker.backoff import retry_delay_seconds
from ..worker.retry_policies import RetryPolicies
from . import worker_requests as req
from .status import abort_with

Context = grpc.aio.ServicerContext[Any, Any]
MAX_FINISH_BATCH = 500
# A long poll blocks in slices: a wake-up taken by another worker costs at most this.
WAIT_SLICE_SECONDS = 1.0
# Answer an empty long poll this long before the caller's deadline.
_DEADLINE_MARGIN_SECONDS = 0.05


class WorkerServicer(wpb_grpc.WorkerServiceServicer):
    """The RPCs of taskqueue.v1.WorkerService; `engine` is read per call (it may attach late)."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        retry_policies: RetryPolicies,
        lease_seconds: float,
        max_result_bytes: int,
    ) -> None:
        self._engine = engine
        self._policies = retry_policies  # the in-process pool's too: one rule for both
        self._lease_ms = int(lease_seconds * 1000)
        self._max_result_bytes = max_result_bytes
        # Outcomes of concurrent CompleteTask/FailTask calls share one finish script call,
        # as the in-process pool's outcomes do.
        self._finisher: Coalescer[Outcome, bool] = Coalescer(self._record, MAX_FINISH_BATCH)

    async def LeaseTasks(
        self, request: wpb.LeaseTasksRequest, context: Context
    ) -> wpb.LeaseTasksResponse:
        try:
            ask = req.lease_ask(request)
            wait = ask.wait_seconds
            remaining = context.time_remaining()
            if wait and remaining is not None:
                wait = max(0.0, min(wait, remaining - _DEADLINE_MARGIN_SECONDS))
            claimed, claimed_ms = await lease_tasks(self._engine(), ask, wait)
            if claimed and context.cancelled():
                # The worker went away while its long poll claimed: no one would get the
                # answer, so the tasks go back now rather than when their leases run out.
                await _hand_back(self._engine(), claimed)
                claimed = []
        except Exception as exc:
            await abort_with(context, exc)
        expires_ms = claimed_ms + (ask.lease_ms or self._lease_ms)
        return wpb.LeaseTasksResponse(tasks=[req.leased_to_proto(t, expires_ms) for t in claimed])

    async def RenewLeases(
        self, request: wpb.RenewLeasesRequest, context: Context
    ) -> wpb.RenewLeasesResponse:
        try:
            leases = req.renewals(request)
            lease_ms = req.check_lease_ms(request.lease_seconds) or self._lease_ms
            engine = self._engine()
            if request.HasField("heartbeat"):
                worker = req.heartbeat_of(request, len(leases), lease_ms)
                await engine.announce_worker(worker)
                # Its types become valid for Enqueue on every server, as in-process ones are.
                await engine.register_task_types(worker.task_types)
            expires_ms = int(time.time() * 1000) + lease_ms
            lost = await engine.renew_leases(leases, lease_ms) if leases else []
            cancelled = await _cancelled_among(engine, lost)
        except Exception as exc:
            await abort_with(context, exc)
        response = wpb.RenewLeasesResponse(
            renewed=[lease.task_id for lease in leases if lease not in set(lost)],
            lost=[lease.task_id for lease in lost if lease.task_id not in cancelled],
            cancelled=[lease.task_id for lease in lost if lease.task_id in cancelled],
        )
        response.lease_expires_at.FromMilliseconds(expires_ms)
        return response

    async def CompleteTask(
        self, request: wpb.CompleteTaskRequest, context: Context
    ) -> wpb.CompleteTaskResponse:
        try:
            await self._finish(req.completion(request, self._max_result_bytes))
        except Exception as exc:
            await abort_with(context, exc)
        return wpb.CompleteTaskResponse()

    async def FailTask(
        self, request: wpb.FailTaskRequest, context: Context
    ) -> wpb.FailTaskResponse:
        try:
            lease = req.lease_of(request.task_id, request.lease_token)
            reported = req.failure_outcome(lease, request)
            await self._finish(await self._decide(self._engine(), reported))
        except Exception as exc:
            await abort_with(context, exc)
        return wpb.FailTaskResponse()

    async def FinishTasks(
        self, request: wpb.FinishTasksRequest, context: Context
    ) -> wpb.FinishTasksResponse:
        try:
            items, ask = req.finish_ask(request, self._max_result_bytes)
            engine = self._engine()
            refused, outcomes = await self._prepare(engine, items)
            claimed_ms = int(time.time() * 1000)
            stale, claimed = await finish_and_lease(engine, outcomes, ask)
        except Exception as exc:
            await abort_with(context, exc)
        expires_ms = claimed_ms + ((ask.lease_ms if ask else None) or self._lease_ms)
        return wpb.FinishTasksResponse(
            refused=refused + [lease.task_id for lease in stale],
            tasks=[req.leased_to_proto(t, expires_ms) for t in claimed],
        )

    async def _prepare(
        self, engine: Engine, items: Sequence[req.Reported]
    ) -> tuple[list[str], list[Outcome]]:
        """Apply the retry policy where needed; unknown tasks are refused, not sent."""
        refused: list[str] = []
        outcomes: list[Outcome] = []
        for item in items:
            try:
                outcomes.append(await self._decide(engine, item))
            except TaskNotFound:
                refused.append(item.outcome.lease.task_id)
        return refused, outcomes

    async def _decide(self, engine: Engine, item: req.Reported) -> Outcome:
        """What the in-process pool decides from the policy the task follows (its own, its
        queue's default, the server's): permanent when one of the error's kind names is in
        permanent_errors, else the same backoff, from the attempt the server counted."""
        if not item.needs_policy:
            return item.outcome
        task = await engine.get_task(item.outcome.lease.task_id)
        policy = await self._policies.for_task(task.queue, task.retry_policy)
        if policy.lists_permanent(item.error_types):
            return dataclasses.replace(item.outcome, permanent=True, retry_delay_ms=0)
        if not item.backoff:
            return item.outcome
        delay = retry_delay_seconds(policy, task.attempts)
        return dataclasses.replace(item.outcome, retry_delay_ms=int(delay * 1000))

    async def ReleaseTask(
        self, request: wpb.ReleaseTaskRequest, context: Context
    ) -> wpb.ReleaseTaskResponse:
        try:
            lease = req.lease_of(request.task_id, request.lease_token)
            engine = self._engine()
            if await engine.release([lease]):
                await _refuse(engine, lease)
        except Exception as exc:
            await abort_with(context, exc)
        return wpb.ReleaseTaskResponse()

    async def ReportProgress(
        self, request: wpb.ReportProgressRequest, context: Context
    ) -> wpb.ReportProgressResponse:
        try:
            lease, progress, message = req.progress_of(request)
            engine = self._engine()
            try:
                await engine.report_progress(lease, progress, message)
            except EngineError as exc:
                if exc.code is not ErrorCode.STALE_LEASE:
                    raise
                await _refuse(engine, lease)
        except Exception as exc:
            await abort_with(context, exc)
        return wpb.ReportProgressResponse()

    async def ListWorkers(
        self, request: wpb.ListWorkersRequest, context: Context
    ) -> wpb.ListWorkersResponse:
        try:
            workers = await self._engine().list_workers()
        except Exception as exc:
            await abort_with(context, exc)
        return wpb.ListWorkersResponse(workers=[req.worker_to_proto(w) for w in workers])

    async def _finish(self, outcome: Outcome) -> None:
        if not await self._finisher.submit(outcome):
            await _refuse(self._engine(), outcome.lease)

    async def _record(self, outcomes: list[Outcome]) -> list[bool]:
        """Record outcomes in one call; False for each refused (stale) one."""
        stale = set(await self._engine().finish(outcomes))
        return [outcome.lease not in stale for outcome in outcomes]


async def finish_and_lease(
    engine: Engine, outcomes: list[Outcome], ask: req.LeaseAsk | None
) -> tuple[list[Lease], list[ClaimedTask]]:
    """Record outcomes and claim the next tasks of the first queue, in one script call when
    some outcome is of that queue."""
    if ask is None:
        return (await engine.finish(outcomes) if outcomes else []), []
    return await engine.finish_and_claim(
        outcomes, ask.queues[0], ask.task_types, ask.count, ask.worker_id, ask.lease_ms
    )


async def lease_tasks(
    engine: Engine, ask: req.LeaseAsk, wait: float
) -> tuple[list[ClaimedTask], int]:
    """Claim from the queues in order; while nothing is ready, block until work or `wait` ends.

    Also returns when (Unix ms) the claims were sent: the leases run from then, not from the
    start of a long poll.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        claimed_ms = int(time.time() * 1000)
        claimed: list[ClaimedTask] = []
        for queue in ask.queues:
            want = ask.count - len(claimed)
            try:
                claimed += await engine.claim(
                    queue, ask.task_types, want, ask.worker_id, ask.lease_ms
                )
            except asyncio.CancelledError:
                # The worker is gone: the cancelled claim handed back its own tasks (see
                # engine.claim); the earlier queues' go back here.
                await _hand_back(engine, claimed)
                raise
            if len(claimed) >= ask.count:
                break
        left = deadline - loop.time()
        if claimed or left <= 0:
            return claimed, claimed_ms
        slice_seconds = max(0.01, min(left, WAIT_SLICE_SECONDS))
        await engine.wait_for_work(ask.queues, ask.task_types, slice_seconds)


async def _hand_back(engine: Engine, claimed: Sequence[ClaimedTask]) -> None:
    """Release tasks leased for a caller that is gone (the attempt is not counted)."""
    if claimed:
        with contextlib.suppress(EngineError):
            await engine.release([task.lease for task in claimed])


async def _cancelled_among(engine: Engine, lost: Sequence[Lease]) -> set[str]:
    """Ids of lost leases whose task was cancelled (the rest expired or moved on)."""

    async def status_of(task_id: str) -> Status | None:
        try:
            return (await engine.get_task(task_id)).status
        except TaskNotFound:
            return None

    statuses = await asyncio.gather(*(status_of(lease.task_id) for lease in lost))
    return {
        lease.task_id
        for lease, status in zip(lost, statuses, strict=True)
        if status is Status.CANCELLED
    }


async def _refuse(engine: Engine, lease: Lease) -> None:
    """Raise NOT_FOUND for an unknown task, else STALE_LEASE (FAILED_PRECONDITION)."""
    await engine.get_task(lease.task_id)
    raise EngineError(
        ErrorCode.STALE_LEASE,
        f"STALE_LEASE: lease token {lease.token} on task {lease.task_id} is no longer held "
        "(the lease expired, the task was cancelled or another worker leased it); "
        "stop working on it",
    )
