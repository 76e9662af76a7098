"""The remote worker's machinery: lease, run, renew, report, and stop gracefully.

The same shape as the server's in-process pool: one lease loop fills free slots, one
renewal call per third of the lease covers every held lease (and is the heartbeat), and a
guard stops handlers whose lease could not be renewed before it runs out, so a task never
runs twice at once.

Unlike the pool, whose claims are one Redis round trip, each call here crosses the network
and the server: so each outcome report (FinishTasks) also leases up to `prefetch` tasks
beyond the running handlers, and a freed slot starts the next of them at once instead of
idling while the outcome travels and the next task is leased (outcomes leave in batches,
two calls at most under way: _worker_outbox.py). The long poll only ever asks for free
slots. Prefetched tasks are renewed like running ones and handed back at once at stop.
"""

from __future__ import annotations

import asyncio
import collections
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
# FinishTasks calls under way at once: the next batch's handlers run during the previous call.
CALLS_IN_FLIGHT = 2

Invoke = Callable[[Call[Any]], Awaitable[Any]]
# Worth retrying: the server or the network is away for a while.
TRANSIENT_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL,
     grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNKNOWN}
)  # fmt: skip


class WorkerSpec(Protocol):
    queues: list[str]
    concurrency: int
    prefetch: int
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


def _lease_deadlines(tasks: list[wpb.LeasedTask], lease_seconds: float) -> list[float]:
    """Each lease's end in loop time. A long poll may have waited long before the server
    claimed the task, so the lease runs from the server's claim (its lease_expires_at, which
    needs clocks in sync, as NTP keeps them), and never past a lease from now."""
    loop_now, wall_now = asyncio.get_running_loop().time(), time.time()
    latest = loop_now + lease_seconds
    shift = loop_now - wall_now
    return [
        min(latest, shift + t.lease_expires_at.seconds + t.lease_expires_at.nanos / 1e9)
        for t in tasks
    ]


def _dependency_results(task: wpb.LeasedTask) -> dict[str, dict[str, Any] | None]:
    """Each dependency's result (None where it expired); {} without dependencies (most
    tasks, so no conversion is paid for them)."""
    if not task.dependency_results.fields:
        return {}
    return struct_to_dict(task.dependency_results)


class Runner:
    def __init__(self, spec: WorkerSpec, invoke: Invoke) -> None:
        self.spec = spec
        self.invoke = invoke
        # Every lease held: handlers running, prefetched tasks, outcomes not yet recorded.
        self.running: dict[str, Running] = {}
        self.fatal: ServiceError | None = None
        self._slot_freed = asyncio.Event()
        self._handling = 0  # handlers running now; a reported task frees its slot before
        self._ready: collections.deque[Running] = collections.deque()  # leased, not started
        self._asked = 0  # tasks asked for by lease calls under way
        self._capacity = spec.concurrency + spec.prefetch
        self._stopping = False
        self._outbox: Outbox[tuple[wpb.TaskOutcome, Running]] = Outbox(
            self._send, MAX_BATCH, CALLS_IN_FLIGHT, max(1, spec.concurrency // 2)
        )
        self._executor = ThreadPoolExecutor(spec.concurrency, thread_name_prefix="handler")
        self._is_async = {task_type: spec.is_async(task_type) for task_type in spec.handlers}

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

    def _wanted(self, room: int) -> int:
        """How many more tasks to lease to hold `room` (slots, or slots and prefetch)."""
        if self._stopping:
            return 0
        return max(0, room - self._handling - len(self._ready) - self._asked)

    async def _lease_loop(self, stop: asyncio.Event) -> None:
        spec, failures = self.spec, 0
        while True:
            # Only for free slots: a long poll waiting while every slot is busy would hold a
            # task no handler runs (and lose it with a cut-off connection). The prefetch is
            # filled by outcome reports, which never wait.
            free = self._wanted(spec.concurrency)
            # While outcomes are being sent, their call leases the next tasks (see _send).
            if free <= 0 or self._outbox.pending:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            call = calls.lease(
                spec.worker_id, spec.queues, sorted(spec.handlers), free,
                spec.lease_seconds, spec.poll_seconds,
            )  # fmt: skip
            self._asked += free
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
            finally:
                self._asked -= free
            self._launch_all(leased)

    def _launch_all(self, tasks: list[wpb.LeasedTask]) -> None:
        deadlines = _lease_deadlines(tasks, self.spec.lease_seconds)
        for task, lease_until in zip(tasks, deadlines, strict=True):
            self._launch(task, lease_until)

    def _launch(self, task: wpb.LeasedTask, lease_until: float) -> None:
        ctx = TaskContext(
            task_id=task.task_id,
            task_type=task.task_type,
            queue=task.queue,
            attempt=task.attempt,
            max_retries=task.max_retries,
            dependency_results=_dependency_results(task),
            _progress_sink=lambda pct, msg: self.invoke(calls.progress(task, pct, msg)),
            _loop=asyncio.get_running_loop(),
        )
        running = Running(task, ctx, lease_until)
        self.running[task.task_id] = running
        if self._handling < self.spec.concurrency and not self._stopping:
            self._start(running)
        else:
            self._ready.append(running)

    def _start(self, running: Running) -> None:
        self._handling += 1
        name = f"task-{running.task.task_id}"
        running.job = asyncio.create_task(self._execute(running), name=name)

    def _start_next(self) -> None:
        """A slot is free: start the next prefetched task (not once stopping)."""
        if self._ready and not self._stopping:
            self._start(self._ready.popleft())

    async def _execute(self, running: Running) -> None:
        outcome = None
        try:
            outcome = await self._outcome_of(running)
        finally:
            self._handling -= 1
            self._start_next()
            self._slot_freed.set()
            # The lease stays held (and renewed) until the outcome is recorded (_send).
            if outcome is None:
                self.running.pop(running.task.task_id, None)
            else:
                self._outbox.add((outcome, running))

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
        data = struct_to_dict(task.task_data) if task.task_data.fields else {}
        coro: Awaitable[Any]
        if self._is_async[task.task_type]:
            coro = fn(data, running.ctx)
        else:
            call = functools.partial(contextvars.copy_context().run, fn, data, running.ctx)
            coro = asyncio.get_running_loop().run_in_executor(self._executor, call)
        if task.timeout_seconds > 0:
            return await asyncio.wait_for(coro, task.timeout_seconds)
        return await coro

    async def _send(self, batch: list[tuple[wpb.TaskOutcome, Running]]) -> None:
        """Record outcomes in one FinishTasks call that also leases tasks for the free slots
        and the prefetch; resend while the server is away and some lease in the batch may
        still hold. Then the batch's leases are no longer held."""
        want = self._wanted(self._capacity)
        self._asked += want
        try:
            reply = await self._finish(batch, want)
        finally:
            self._asked -= want
            for _, running in batch:
                self.running.pop(running.task.task_id, None)
        if reply is not None:
            for task_id in reply.refused:
                log.info("task %s: outcome refused, its lease had passed on", task_id)
            self._launch_all(list(reply.tasks))
        self._slot_freed.set()

    async def _finish(
        self, batch: list[tuple[wpb.TaskOutcome, Running]], want: int
    ) -> wpb.FinishTasksResponse | None:
        spec, loop, delay = self.spec, asyncio.get_running_loop(), 0.1
        call = calls.finish(
            spec.worker_id, [outcome for outcome, _ in batch], spec.queues,
            sorted(spec.handlers), want, spec.lease_seconds,
        )  # fmt: skip
        holds_until = max(running.lease_until for _, running in batch)
        while True:
            try:
                reply: wpb.FinishTasksResponse = await self.invoke(call)
                return reply
            except ServiceError as exc:
                if exc.code not in TRANSIENT_CODES or loop.time() > holds_until:
                    log.warning("%d outcome(s) not recorded: %s", len(batch), exc)
                    return None
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)

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
        beat = spec.heartbeat(self._handling)
        call = calls.renew(spec.worker_id, leases, spec.lease_seconds, beat)
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
        if running.abandoned:
            return
        log.info("stopping task %s: %s", running.task.task_id, why)
        running.abandoned = True
        running.ctx.mark_cancelled()
        if running.job is None:  # prefetched, not started: drop it
            self.running.pop(running.task.task_id, None)
            with contextlib.suppress(ValueError):
                self._ready.remove(running)
        elif self._is_async[running.task.task_type]:
            running.job.cancel()

    async def _drain(self, grace: float) -> None:
        """Hand back prefetched tasks at once; let handlers finish within `grace` and their
        outcomes be sent; hand back the rest."""
        loop = asyncio.get_running_loop()
        until = loop.time() + grace
        prefetched = self._take_ready()
        await self._release(prefetched)
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
        # Outcomes still travelling; a call under way may bring tasks: handed back too.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._outbox.flushed(), max(1.0, until - loop.time()))
        rest = unfinished + self._take_ready()
        await self._release(rest)
        if prefetched or rest:
            log.info("handed back %d unfinished task(s)", len(prefetched) + len(rest))

    async def _release(self, held: list[Running]) -> None:
        with contextlib.suppress(ServiceError):
            await asyncio.gather(*(self.invoke(calls.release(r.task)) for r in held))

    def _take_ready(self) -> list[Running]:
        """The prefetched tasks not yet started, no longer to be started."""
        taken = list(self._ready)
        self._ready.clear()
        for running in taken:
            running.abandoned = True
            self.running.pop(running.task.task_id, None)
        return taken
