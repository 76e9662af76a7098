"""ScheduleService over grpc.aio: convert the request, make one engine call, convert back."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import grpc
from taskqueue.v1 import schedule_pb2 as spb
from taskqueue.v1 import schedule_pb2_grpc as spb_grpc

from ..config.settings import RequestLimits
from ..engine.errors import StoreUnavailable
from ..engine.schedule_api import ScheduleEngine
from ..worker.registry import Registration
from .schedule_convert import schedule_name, schedule_to_proto, spec_from_proto
from .status import abort_with
from .validation import check_page_size, check_page_token, check_queue

Context = grpc.aio.ServicerContext[Any, Any]
Request = TypeVar("Request")
Response = TypeVar("Response")
Method = Callable[[Any, Request, Context], Awaitable[Response]]


def _answers_errors(method: Method[Request, Response]) -> Method[Request, Response]:
    """Any exception ends the call with the status status.py maps it to."""

    @functools.wraps(method)
    async def call(self: Any, request: Request, context: Context) -> Response:
        try:
            return await method(self, request, context)
        except Exception as exc:
            await abort_with(context, exc)

    return call


class ScheduleServicer(spb_grpc.ScheduleServiceServicer):
    """The RPCs of taskqueue.v1.ScheduleService."""

    def __init__(
        self,
        engine: ScheduleEngine | None,
        registrations: Mapping[str, Registration],
        limits: RequestLimits,
    ) -> None:
        self._engine = engine
        self._registrations = registrations
        self._limits = limits

    def attach(self, engine: ScheduleEngine) -> None:
        self._engine = engine

    @property
    def engine(self) -> ScheduleEngine:
        if self._engine is None:
            raise StoreUnavailable("not connected yet; the server keeps trying")
        return self._engine

    @_answers_errors
    async def CreateSchedule(
        self, request: spb.CreateScheduleRequest, context: Context
    ) -> spb.CreateScheduleResponse:
        spec = spec_from_proto(request.schedule, self._limits, self._registrations, True)
        schedule = await self.engine.create_schedule(spec)
        return spb.CreateScheduleResponse(schedule=schedule_to_proto(schedule))

    @_answers_errors
    async def GetSchedule(
        self, request: spb.GetScheduleRequest, context: Context
    ) -> spb.GetScheduleResponse:
        name = schedule_name(request.queue, request.schedule_id)
        schedule = await self.engine.get_schedule(*name)
        return spb.GetScheduleResponse(schedule=schedule_to_proto(schedule))

    @_answers_errors
    async def ListSchedules(
        self, request: spb.ListSchedulesRequest, context: Context
    ) -> spb.ListSchedulesResponse:
        schedules, token = await self.engine.list_schedules(
            check_queue(request.queue),
            check_page_size(request.page_size),
            check_page_token(request.page_token),
        )
        return spb.ListSchedulesResponse(
            schedules=[schedule_to_proto(s) for s in schedules], next_page_token=token
        )

    @_answers_errors
    async def UpdateSchedule(
        self, request: spb.UpdateScheduleRequest, context: Context
    ) -> spb.UpdateScheduleResponse:
        spec = spec_from_proto(request.schedule, self._limits, self._registrations, False)
        schedule = await self.engine.update_schedule(spec)
        return spb.UpdateScheduleResponse(schedule=schedule_to_proto(schedule))

    @_answers_errors
    async def DeleteSchedule(
        self, request: spb.DeleteScheduleRequest, context: Context
    ) -> spb.DeleteScheduleResponse:
        await self.engine.delete_schedule(*schedule_name(request.queue, request.schedule_id))
        return spb.DeleteScheduleResponse()

    @_answers_errors
    async def PauseSchedule(
        self, request: spb.PauseScheduleRequest, context: Context
    ) -> spb.PauseScheduleResponse:
        name = schedule_name(request.queue, request.schedule_id)
        schedule = await self.engine.pause_schedule(*name)
        return spb.PauseScheduleResponse(schedule=schedule_to_proto(schedule))

    @_answers_errors
    async def ResumeSchedule(
        self, request: spb.ResumeScheduleRequest, context: Context
    ) -> spb.ResumeScheduleResponse:
        name = schedule_name(request.queue, request.schedule_id)
        schedule = await self.engine.resume_schedule(*name)
        return spb.ResumeScheduleResponse(schedule=schedule_to_proto(schedule))
