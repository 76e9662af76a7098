"""The remote worker's machinery: lease, run, renew, report, and stop gracefully.

The same shape as the server's in-process pool: one lease loop fills free slots, one
renewal call per third of the lease covers every running task (and is the heartbeat), and a
guard stops handlers whose lease could not be renewed before it runs out, so a task never
runs twice at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from taskqueue.v1 import worker_pb2 as wpb

from . import _worker_calls as calls
from ._calls import Call
from ._convert import struct_to_dict
from ._worker_context import Failure, Handler, TaskContext, failure_of
from ._worker_outbox import Outbox
from .errors import ServiceError

log = logging.getLogger("taskqueue_client.worker")
MAX_BATCH = 500

Invoke = Callable[[Call[Any]], Awaitable[Any]]
# Worth retrying: the server or the network is away for a while.
TRANSIENT_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL,
     grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNKNOWN}
)  # fmt: skip


class WorkerSpec(Protocol):
    queues: list[str]
    concurrency: int
    worker_id: str
    lease_seconds: float
    poll_seconds: float
    handlers: dict[str, Handler]

    def heartbeat(self, running: int) -> wpb.WorkerHeartbeat: ...

    def is_async(self, task_type: str) -> bool: ...


@dataclass
class Running:
    task: wpb.LeasedTask
    ctx: TaskContext
    # Local loop time by which the lease surely ends unless renewed (measured from sending).
    lease_until: float
    job: asyncio.Task[None] | None = None
    abandoned: bool = False  # cancelled or lease lost: the outcome must not be reported


def _local_deadline(task: wpb.LeasedTask, lease_seconds: float) -> float:
    """The lease's end in loop time. A long poll may have waited long before the server
    claimed the task, so the lease runs from the server's claim (its lease_expires_at, which
    needs clocks in sync, as NTP keeps them), and never past a lease from now."""
    loop_now, wall_now = asyncio.get_running_loop().time(), time.time()
    expires = task.lease_expires_at.ToMilliseconds() / 1000
    return loop_now + min(lease_seconds, expires - wall_now)


class Runner:
    def __init__(self, spec: WorkerSpec, invoke: Invoke) -> None:
        self.spec = spec
        self.invoke = invoke
        self.running: dict[str, Running] = {}
        self.fatal: ServiceError | None = None
        self._slot_freed = asyncio.Event()
        self._handling = 0  # handlers running now; a reported task frees its slot before
        self._stopping = False
        self._outbox: Outbox[tuple[wpb.TaskOutcome, Running]] = Outbox(self._send, MAX_BATCH)
        self._executor = ThreadPoolExecutor(spec.concurrency, thread_name_prefix="handler")

    async def serve(self, stop: asyncio.Event, grace: Callable[[], float]) -> None:
        if not await self._announce(stop):
            return
        fetch = asyncio.create_task(self._lease_loop(stop), name="lease-tasks")
        duties = [asyncio.create_task(self._renew_loop()), asyncio.create_task(self._guard())]
        await stop.wait()
        self._stopping = True
        fetch.cancel()
        await asyncio.gather(fetch, return_exceptions=True)
        await self._drain(grace())
        for duty in duties:
            duty.cancel()
        await asyncio.gather(*duties, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self.fatal is not None:
            raise self.fatal

    async def _announce(self, stop: asyncio.Event) -> bool:
        """The first heartbeat, retried while the server is away (it may be starting); a
        refused token or role ends the worker here, at once. False if stopped first."""
        delay = 0.25
        while not stop.is_set():
            try:
                await self._renew()
                return True
            except ServiceError as exc:
                if exc.code not in TRANSIENT_CODES:
                    raise
                log.warning("cannot reach the server yet (%s); retrying", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(5.0, delay * 2)
        return False

    async def _lease_loop(self, stop: asyncio.Event) -> None:
        spec, failures = self.spec, 0
        while True:
            free = spec.concurrency - self._handling
            # While outcomes are being sent, their call leases the next tasks (see _send).
            if free <= 0 or self._outbox.pending:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            call = calls.lease(
                spec.worker_id, spec.queues, sorted(spec.handlers), free,
                spec.lease_seconds, spec.poll_seconds,
            )  # fmt: skip
            try:
                leased: list[wpb.LeasedTask] = await self.invoke(call)
                failures = 0
            except ServiceError as exc:
                if exc.code not in TRANSIENT_CODES:
                    log.error("the server refused to lease tasks: %s", exc)
                    self.fatal = exc
                    stop.set()
                    return
                failures += 1
                log.warning("leasing failed (%s); retrying", exc)
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))
                continue
            for task in leased:
                self._launch(task, _local_deadline(task, spec.lease_seconds))

    def _launch(self, task: wpb.LeasedTask, lease_until: float) -> None:
        ctx = TaskContext(
            task_id=task.task_id,
            task_type=task.task_type,
            queue=task.queue,
            attempt=task.attempt,
            max_retries=task.max_retries,
            _progress_sink=lambda pct, msg: self.invoke(calls.progress(task, pct, msg)),
            _loop=asyncio.get_running_loop(),
        )
        running = Running(task, ctx, lease_until)
        self.running[task.task_id] = running
        self._handling += 1
        running.job = asyncio.create_task(self._execute(running), name=f"task-{task.task_id}")

    async def _execute(self, running: Running) -> None:
        try:
            try:
                outcome = await self._outcome_of(running)
            finally:
                self._handling -= 1
                self._slot_freed.set()
            if outcome is not None:
                await self._outbox.submit((outcome, running))
        finally:
            self.running.pop(running.task.task_id, None)

    async def _outcome_of(self, running: Running) -> wpb.TaskOutcome | None:
        task = running.task
        try:
            result = await self._run_handler(running)
        except asyncio.CancelledError:
            if running.abandoned:
                return None
            raise
        except Exception as exc:
            if running.abandoned:
                return None
            return calls.failure_outcome(task, failure_of(exc, task.timeout_seconds))
        if running.abandoned:
            return None
        value = result if isinstance(result, dict) else {"result": result}
        try:
            return calls.result_outcome(task, value)
        except (TypeError, ValueError) as exc:
            failure = Failure(f"handler returned a non-JSON result: {exc}", permanent=True)
            return calls.failure_outcome(task, failure)

    async def _run_handler(self, running: Running) -> Any:
        task, fn = running.task, self.spec.handlers[running.task.task_type]
        data = struct_to_dict(task.task_data)
        coro: Awaitable[Any]
        if self.spec.is_async(task.task_type):
            coro = fn(data, running.ctx)
        else:
            call = functools.partial(contextvars.copy_context().run, fn, data, running.ctx)
            coro = asyncio.get_running_loop().run_in_executor(self._executor, call)
        if task.timeout_seconds > 0:
            return await asyncio.wait_for(coro, task.timeout_seconds)
        return await coro

    async def _send(self, batch: list[tuple[wpb.TaskOutcome, Running]]) -> None:
        """Record outcomes in one FinishTasks call that also leases tasks for the free slots;
        resend while the server is away and some lease in the batch may still hold."""
        spec, loop, delay = self.spec, asyncio.get_running_loop(), 0.1
        want = 0 if self._stopping else max(0, spec.concurrency - self._handling)
        call = calls.finish(
            spec.worker_id, [outcome for outcome, _ in batch], spec.queues,
            sorted(spec.handlers), want, spec.lease_seconds,
        )  # fmt: skip
        holds_until = max(running.lease_until for _, running in batch)
        while True:
            try:
                reply: wpb.FinishTasksResponse = await self.invoke(call)
                break
            except ServiceError as exc:
                if exc.code not in TRANSIENT_CODES or loop.time() > holds_until:
                    log.warning("%d outcome(s) not recorded: %s", len(batch), exc)
                    return
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
        for task_id in reply.refused:
            log.info("task %s: outcome refused, its lease had passed on", task_id)
        for task in reply.tasks:
            self._launch(task, _local_deadline(task, spec.lease_seconds))
        self._slot_freed.set()

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.spec.lease_seconds / 3)
            try:
                await self._renew()
            except ServiceError as exc:
                log.warning("renewing %d lease(s) failed (%s)", len(self.running), exc)

    async def _renew(self) -> None:
        holding = list(self.running.values())
        sent = asyncio.get_running_loop().time()
        spec = self.spec
        leases = [(r.task.task_id, r.task.lease_token) for r in holding]
        call = calls.renew(spec.worker_id, leases, spec.lease_seconds, spec.heartbeat(len(holding)))
        reply: wpb.RenewLeasesResponse = await self.invoke(call)
        renewed, cancelled = set(reply.renewed), set(reply.cancelled)
        for running in holding:
            task_id = running.task.task_id
            if task_id in renewed:
                running.lease_until = sent + spec.lease_seconds
            elif task_id in cancelled:
                self._abandon(running, "cancelled by request")
            else:
                self._abandon(running, "its lease was lost")

    async def _guard(self) -> None:
        """Stop handlers whose lease is about to end unrenewed (server unreachable)."""
        tick = self.spec.lease_seconds / 10
        margin = tick + self.spec.lease_seconds / 20
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            for running in list(self.running.values()):
                if not running.abandoned and running.lease_until - loop.time() < margin:
                    self._abandon(running, "could not renew its lease; stopping before it ends")

    def _abandon(self, running: Running, why: str) -> None:
        if running.abandoned or running.job is None:
            return
        log.info("stopping task %s: %s", running.task.task_id, why)
        running.abandoned = True
        running.ctx.mark_cancelled()
        if self.spec.is_async(running.task.task_type):
            running.job.cancel()

    async def _drain(self, grace: float) -> None:
        """Let handlers finish within `grace`; hand back the rest at once."""
        jobs = [r.job for r in self.running.values() if r.job is not None]
        if jobs:
            await asyncio.wait(jobs, timeout=grace)
        unfinished = [r for r in self.running.values() if r.job is not None and not r.job.done()]
        for running in unfinished:
            running.abandoned = True
            running.ctx.mark_cancelled()
            assert running.job is not None
            running.job.cancel()
        await asyncio.gather(*(r.job for r in unfinished if r.job), return_exceptions=True)
        with contextlib.suppress(ServiceError):
            await asyncio.gather(*(self.invoke(calls.release(r.task)) for r in unfinished))
        if unfinished:
            log.info("handed back %d unfinished task(s)", len(unfinished))
