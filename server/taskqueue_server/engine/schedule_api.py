"""Schedules as the service and the scheduler duty see them (engine/schedules.py has them)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from .schedule_models import Schedule, ScheduleSpec


class ScheduleEngine(Protocol):
    """Schedule definitions and their firing. Refusals raise `EngineError`."""

    async def create_schedule(self, spec: ScheduleSpec) -> Schedule:
        """Store a new schedule; ALREADY_EXISTS when its id is taken in its queue."""

    async def get_schedule(self, queue: str, schedule_id: str) -> Schedule:
        """The schedule with its run history; NOT_FOUND when unknown."""

    async def list_schedules(
        self, queue: str, page_size: int, page_token: str
    ) -> tuple[list[Schedule], str]:
        """A page of the queue's schedules in id order, and the token of the next page."""

    async def update_schedule(self, spec: ScheduleSpec) -> Schedule:
        """Replace a schedule's definition (its history stays); the next run is recomputed."""

    async def delete_schedule(self, queue: str, schedule_id: str) -> None:
        """Remove a schedule; tasks it already enqueued stay."""

    async def pause_schedule(self, queue: str, schedule_id: str) -> Schedule:
        """Stop firing until resumed."""

    async def resume_schedule(self, queue: str, schedule_id: str) -> Schedule:
        """Fire again from the first tick after now; paused ticks are not missed runs."""

    async def fire_due_schedules(self) -> float:
        """Fire every due tick (each exactly once across servers); seconds until the next."""

    def schedule_changes(self) -> AbstractAsyncContextManager[Callable[[], Awaitable[None]]]:
        """A wait (call and await it, again and again) that ends when a schedule was
        created, changed or resumed on any server, or announcements may have been lost."""
