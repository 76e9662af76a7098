"""Keeping the leases of running handlers: renewed together, a handler stopped before its
lease can end unrenewed, and stopped when its task is cancelled. Mixed into WorkerPool."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from ..engine.api import WorkerEngine
from ..engine.errors import EngineError
from ..engine.models import ClaimedTask
from .context import TaskContext
from .registry import Registration

log = logging.getLogger(__name__)


@dataclass
class Running:
    task: ClaimedTask
    ctx: TaskContext
    # Event-loop time by which the lease surely ends unless renewed: measured from when the
    # claim or renewal was sent, so it is never later than the deadline Redis holds. A
    # duration on this host's monotonic clock is safe here: it needs no agreement with other
    # hosts (only the deadline in Redis, on Redis's clock, does), and no clock step moves it.
    lease_until: float
    job: asyncio.Task[None] | None = None
    # Set when the outcome must not be reported: cancelled by request or lease lost.
    abandoned: bool = False


class LeaseKeeping:
    """The pool's lease duties; the attributes are WorkerPool's."""

    engine: WorkerEngine
    registrations: Mapping[str, Registration]
    lease_seconds: float
    _running: dict[str, Running]
    _ahead: deque[Running]

    async def _renew_loop(self) -> None:
        interval = self.lease_seconds / 3
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            holding = list(self._running.values())
            if not holding:
                continue
            sent = loop.time()
            try:
                lost = set(await self.engine.renew_leases([r.task.lease for r in holding]))
            except EngineError as exc:
                log.warning("renewing %d lease(s) failed (%s)", len(holding), exc.message)
                continue
            for running in holding:
                if running.task.lease in lost:
                    self._abandon(running, "its lease was lost or it was cancelled")
                else:
                    running.lease_until = sent + self.lease_seconds

    async def _lease_guard(self) -> None:
        """Stop handlers whose lease is about to run out unrenewed (Redis unreachable).

        Once the lease ends, another worker may take the task; stopping first keeps a task
        from running twice at once (sync handlers can only be asked, via ctx.cancelled).
        """
        tick = self.lease_seconds / 10
        margin = tick + self.lease_seconds / 20
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            for running in list(self._running.values()):
                if not running.abandoned and running.lease_until - loop.time() < margin:
                    self._abandon(running, "could not renew its lease; stopping before it ends")

    async def _listen_for_cancels(self, queue: str) -> None:
        while True:
            try:
                async with self.engine.cancel_signals(queue) as signals:
                    async for task_id in signals:
                        running = self._running.get(task_id)
                        if running is not None:
                            self._abandon(running, "cancelled by request")
            except EngineError as exc:
                log.warning("cancel signals for %s unavailable (%s); retrying", queue, exc.message)
                await asyncio.sleep(1.0)

    def _abandon(self, running: Running, why: str) -> None:
        """Stop a handler without reporting its outcome. Its job ends (and its slot frees)
        only once the handler has returned; until then its lease is still renewed. A task
        claimed ahead (no job yet) is dropped before it starts; its lease lapses in Redis."""
        if running.abandoned:
            return
        log.info("stopping task %s: %s", running.task.lease.task_id, why)
        running.abandoned = True
        if running.job is None:
            self._ahead.remove(running)
            self._running.pop(running.task.lease.task_id, None)
            return
        running.ctx.mark_cancelled()
        registration = self.registrations.get(running.task.task_type)
        if registration is not None and registration.is_async:
            running.job.cancel()
