"""The worker pool: claims tasks it has handlers for and runs them in N concurrent slots.

One fetch loop claims as many tasks as there are free slots, taking the served queues in
turn (rotation.py), and otherwise blocks in Redis until work arrives in any of them. Leases
of every running task are renewed together in one call per interval; outcomes of tasks
finishing together are recorded in one call, which also claims the next tasks. A handler's
slot and lease are held until it has really returned (execute.py), so --concurrency is a
ceiling and a task never runs twice at once. Timers (timers.py) and cancellation signals
run beside it.

While handlers are short, that call also claims up to --concurrency tasks ahead, kept
leased here until a slot frees: a slot that frees while outcomes are being recorded starts
its next task at once instead of waiting out that round trip (with a realistic job a drain
spent most of each slot's time so). A task waits ahead only about as long as a handler
runs; with long handlers nothing is claimed ahead, so no task waits here for a slot while
another server could run it; nor from a queue with a max_running or max_running_per_key
limit, where a task waiting ahead would hold a place another server could use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..engine.api import WorkerEngine
from ..engine.coalesce import Coalescer
from ..engine.errors import EngineError
from ..engine.models import ClaimedTask, ClaimOffer, Lease, Outcome, WorkerInfo
from ..engine.settings import RetryPolicy
from .announce import announce_forever
from .context import TaskContext
from .execute import HANDLER_THREAD_PREFIX, failure, run_handler, success
from .leases import LeaseKeeping, Running
from .registry import Registration
from .retry_policies import RetryPolicies
from .rotation import Rotation
from .timers import run_timers

log = logging.getLogger(__name__)

TIMER_CALLS_AT_ONCE = 2
MAX_FINISH_BATCH = 500
# Tasks are claimed ahead only while handlers take (on average) less than this: then one
# waits ahead about that long at most, since the slots free a full round of them as fast.
AHEAD_BELOW_HANDLER_SECONDS = 0.05
HANDLER_SECONDS_WEIGHT = 0.05  # of each new handler duration in the running average
LIMITS_CHECK_SECONDS = 5.0  # how often a queue is checked for running limits (see _room)


@dataclass
class WorkerPool(LeaseKeeping):
    """Runs handlers for `registrations` on `queues`; see module docstring."""

    engine: WorkerEngine
    registrations: Mapping[str, Registration]
    queues: Sequence[str] = ("default",)
    concurrency: int = 16
    # Shared with the WorkerService (app.py); None: the default flags and queue defaults.
    retry_policies: RetryPolicies | None = None
    worker_id: str = "worker"
    lease_seconds: float = 30.0
    max_result_bytes: int = 1024 * 1024
    # Told (task type, outcome, seconds) as each handler stops: "completed", "failed" or
    # "stopped" (abandoned: cancelled, lease lost, shutting down). For /metrics.
    observe: Callable[[str, str, float], None] | None = None
    _running: dict[str, Running] = field(default_factory=dict)  # held leases, ahead too
    _ahead: deque[Running] = field(default_factory=deque)  # claimed, waiting for a slot
    _handler_seconds: float | None = None  # running average of handler durations
    # queue -> (loop time when checked, whether it has a running limit)
    _bounded: dict[str, tuple[float, bool]] = field(default_factory=dict)
    _duties: list[asyncio.Task[None]] = field(default_factory=list)
    _slot_freed: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: bool = False
    _busy: int = 0  # handlers running now
    _reserved: int = 0  # slots promised to claims in flight
    _claim_failures: int = 0

    def __post_init__(self) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=self.concurrency, thread_name_prefix=HANDLER_THREAD_PREFIX
        )
        self._finisher: Coalescer[Outcome, bool] = Coalescer(self._record, MAX_FINISH_BATCH)
        self._types = sorted(self.registrations)
        self._rotation = Rotation(self.engine, self.queues, self._types)
        self._started_ms = int(time.time() * 1000)
        self._policies = self.retry_policies or RetryPolicies(lambda: self.engine, RetryPolicy())

    async def start(self) -> None:
        """Start claiming, renewing, listening for cancellations and running timers."""
        spawn = asyncio.create_task
        if self._types:
            self._duties.append(spawn(self._fetch_loop(), name="fetch"))
        timer_gate = asyncio.Semaphore(TIMER_CALLS_AT_ONCE)
        for queue in self.queues:
            self._duties.append(spawn(self._listen_for_cancels(queue), name=f"cancels-{queue}"))
            timers = run_timers(self.engine, queue, timer_gate)
            self._duties.append(spawn(timers, name=f"timers-{queue}"))
        self._duties.append(spawn(self._renew_loop(), name="renew-leases"))
        self._duties.append(spawn(self._lease_guard(), name="lease-guard"))
        heartbeat = announce_forever(self.engine, self.describe, self.lease_seconds / 3)
        self._duties.append(spawn(heartbeat, name="heartbeat"))

    async def stop(self, grace_seconds: float) -> None:
        """Stop claiming; let running handlers finish within the grace, hand back the rest,
        each only once its handler has stopped (leases renewed meanwhile), so no other server
        runs a task beside a sync handler's thread that still runs here."""
        self._stopping = True
        await self._hand_back_ahead()
        jobs = [r.job for r in self._running.values() if r.job is not None]
        if jobs:
            await asyncio.wait(jobs, timeout=grace_seconds)
        unfinished = [r for r in self._running.values() if r.job is not None and not r.job.done()]
        for running in unfinished:
            self._abandon(running, "the server is stopping")
        if unfinished:
            waiting = "waiting for %d handler(s) to stop (a second signal exits now)"
            log.info(waiting, len(unfinished))
            await asyncio.gather(*(r.job for r in unfinished if r.job), return_exceptions=True)
            await self._release([r.task.lease for r in unfinished])
            log.info("handed back %d unfinished task(s)", len(unfinished))
        for duty in self._duties:
            duty.cancel()
        await asyncio.wait(self._duties, timeout=5)
        with contextlib.suppress(EngineError):
            await self.engine.forget_worker(self.worker_id)
        # Every handler has returned by now: this only lets the idle threads go, so none is
        # left for handler_threads_alive() to see.
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def _hand_back_ahead(self) -> None:
        """Release the tasks claimed ahead at once: no slot here will run them now."""
        ahead = list(self._ahead)
        self._ahead.clear()
        for running in ahead:
            running.abandoned = True  # a renewal or cancel signal still in flight skips it
            self._running.pop(running.task.lease.task_id, None)
        await self._release([r.task.lease for r in ahead])

    async def _release(self, leases: list[Lease]) -> None:
        """Hand tasks leased here back to the queue, as far as Redis lets (a lease it cannot
        release ends on its own)."""
        if leases:
            with contextlib.suppress(EngineError):
                await self.engine.release(leases)

    def describe(self) -> WorkerInfo:
        """This pool as ListWorkers shows it."""
        return WorkerInfo(
            worker_id=self.worker_id,
            host=socket.gethostname(),
            queues=tuple(self.queues),
            task_types=tuple(self._types),
            concurrency=self.concurrency,
            running=self._busy,
            started_at_ms=self._started_ms,
            lease_seconds=self.lease_seconds,
            in_process=True,
        )

    def offer(self, queue: str, task_types: Sequence[str], most: int) -> ClaimOffer | None:
        """Idle slots for tasks an enqueue of this process makes ready (engine.api.HandOff),
        reserved until `take`: only free slots, never ahead, so a task handed off starts at
        once."""
        types = tuple(t for t in task_types if t in self.registrations)
        count = min(most, self._free_slots())
        if count <= 0 or not types or queue not in self.queues:
            return None
        self._reserved += count
        lease_ms = int(self.lease_seconds * 1000)
        return ClaimOffer(count, types, self.worker_id, lease_ms)

    async def take(self, offer: ClaimOffer, claimed: Sequence[ClaimedTask], sent: float) -> None:
        self._reserved -= offer.count
        self._slot_freed.set()
        await self._run_claimed(claimed, sent)

    def _free_slots(self) -> int:
        return 0 if self._stopping else self.concurrency - self._busy - self._reserved

    async def _room(self, queue: str) -> int:
        """Tasks the finisher's call may claim from `queue`: free slots, and ahead while
        handlers are short and the queue bounds no running count (module docstring)."""
        if self._stopping:
            return 0
        average = self._handler_seconds
        short = average is not None and average < AHEAD_BELOW_HANDLER_SECONDS
        ahead = self.concurrency if short and not await self._bounds_running(queue) else 0
        return self._free_slots() + ahead - len(self._ahead)

    async def _bounds_running(self, queue: str) -> bool:
        """The queue has a running limit, as last seen (unknown counts as limited)."""
        now = asyncio.get_running_loop().time()
        checked, bounded = self._bounded.get(queue, (-LIMITS_CHECK_SECONDS, True))
        if now - checked >= LIMITS_CHECK_SECONDS:
            self._bounded[queue] = (now, bounded)  # one look at a time
            with contextlib.suppress(EngineError):
                self._bounded[queue] = (now, await self.engine.bounds_running(queue))
        return self._bounded[queue][1]

    async def _fetch_loop(self) -> None:
        """Claim for free slots from the queues that may have work, else wait for any."""
        while not self._stopping:
            free = self._free_slots()
            # While outcomes are being recorded, their call claims the next tasks (see _record).
            if free <= 0 or self._finisher.pending:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            await self._rotation.poll()
            plan = self._rotation.plan(free)
            if not plan:
                await self._rotation.wait()
                continue
            await self._claim(plan, free)

    async def _claim(self, plan: list[tuple[str, int]], free: int) -> None:
        """Claim per queue as planned. The slots are reserved together up front, so a claim
        the finisher sends meanwhile sees them taken."""
        left = free
        self._reserved += free
        try:
            for queue, count in plan:
                sent = asyncio.get_running_loop().time()
                claimed = await self.engine.claim(queue, self._types, count, self.worker_id)
                left -= count
                self._reserved -= count
                self._rotation.claimed(queue, len(claimed), count)
                await self._run_claimed(claimed, sent)
            self._claim_failures = 0
        except EngineError as exc:
            self._claim_failures += 1
            log.warning("claiming failed (%s); retrying", exc.message)
            await asyncio.sleep(min(5.0, 0.1 * 2**self._claim_failures))
        finally:
            self._reserved -= left

    async def _run_claimed(self, claimed: Sequence[ClaimedTask], sent: float) -> None:
        """Launch what a claim sent at `sent` (event-loop time) returned; if the pool began to
        stop while the claim was in flight, no slot here will run them: back at once."""
        if self._stopping:
            await self._release([task.lease for task in claimed])
            return
        for task in claimed:
            self._launch(task, sent + self.lease_seconds)

    def _launch(self, task: ClaimedTask, lease_until: float) -> None:
        """Start the task in a free slot, or keep it ahead until one frees."""
        loop = asyncio.get_running_loop()
        lease = task.lease
        ctx = TaskContext(
            task_id=lease.task_id,
            task_type=task.task_type,
            queue=task.queue,
            attempt=task.attempt,
            max_retries=task.max_retries,
            dependency_results=task.dependency_results,
            _progress_sink=lambda pct, msg: self.engine.report_progress(lease, pct, msg),
            _loop=loop,
        )
        running = Running(task, ctx, lease_until)
        self._running[lease.task_id] = running
        if self._busy < self.concurrency and not self._stopping:
            self._start(running)
        else:
            self._ahead.append(running)

    def _start(self, running: Running) -> None:
        self._busy += 1
        name = f"task-{running.task.lease.task_id}"
        running.job = asyncio.create_task(self._execute(running), name=name)

    def _start_ahead(self) -> None:
        while self._ahead and self._busy < self.concurrency and not self._stopping:
            self._start(self._ahead.popleft())

    async def _execute(self, running: Running) -> None:
        started = time.perf_counter()
        outcome: Outcome | None = None
        try:
            try:
                outcome = await self._outcome_of(running)
            finally:
                # The slot is free once the handler is done; recording is the finisher's.
                self._busy -= 1
                self._start_ahead()
                self._slot_freed.set()
                self._observe(running, outcome, time.perf_counter() - started)
            if outcome is not None:
                await self._report(outcome)
        finally:
            self._running.pop(running.task.lease.task_id, None)

    def _observe(self, running: Running, outcome: Outcome | None, seconds: float) -> None:
        average = self._handler_seconds
        self._handler_seconds = (
            seconds if average is None else average + HANDLER_SECONDS_WEIGHT * (seconds - average)
        )
        if self.observe is not None:
            ended = "stopped" if outcome is None else "failed" if outcome.error else "completed"
            self.observe(running.task.task_type, ended, seconds)

    async def _outcome_of(self, running: Running) -> Outcome | None:
        """Run the handler; None when its outcome must not be reported (abandoned: a handler
        told to stop may return early with a partial result, which must not complete it)."""
        task = running.task
        registration = self.registrations[task.task_type]
        try:
            value = await run_handler(registration, task, running.ctx, self._executor)
            return None if running.abandoned else success(task, value, self.max_result_bytes)
        except asyncio.CancelledError:
            if running.abandoned:
                return None
            raise
        except Exception as exc:
            if running.abandoned:
                return None
            return failure(task, exc, await self._policies.for_task(task.queue, task.retry_policy))

    async def _report(self, outcome: Outcome) -> None:
        """Record the outcome, retrying while Redis is away; the lease fences a late report."""
        delay = 0.1
        while True:
            try:
                accepted = await self._finisher.submit(outcome)
            except EngineError as exc:
                log.warning(
                    "recording task %s failed (%s); retrying", outcome.lease.task_id, exc.message
                )
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
                continue
            if not accepted:
                log.info(
                    "task %s: outcome refused, its lease had passed to another worker",
                    outcome.lease.task_id,
                )
            return

    async def _record(self, outcomes: list[Outcome]) -> list[bool]:
        """Record outcomes and, in the same call, claim tasks for the slots now free from the
        queue whose turn it is (its claim rides with its own outcomes when there are some)."""
        if self._types:
            await self._rotation.poll()
        plan = self._rotation.plan(1) if self._types else []
        queue = plan[0][0] if plan else ""
        want = max(0, await self._room(queue)) if plan else 0
        sent = asyncio.get_running_loop().time()
        self._reserved += want
        try:
            stale, claimed = await self.engine.finish_and_claim(
                outcomes, queue, self._types, want, self.worker_id
            )
        finally:
            self._reserved -= want
            self._slot_freed.set()
        if want:
            self._rotation.claimed(queue, len(claimed), want)
        await self._run_claimed(claimed, sent)
        refused = set(stale)
        return [o.lease not in refused for o in outcomes]


__all__ = ["Lease", "WorkerPool"]
