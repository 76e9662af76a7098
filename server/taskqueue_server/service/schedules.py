"""ScheduleService over grpc.aio: convert the request, make one engine call, convert back."""

from __future__ import annotations

from collections.abc import Mapping

from taskqueue.v1 import schedule_pb2 as spb
from taskqueue.v1 import schedule_pb2_grpc as spb_grpc

from ..config.settings import RequestLimits
from ..engine.api import Engine
from ..engine.errors import StoreUnavailable
from ..engine.schedule_models import ScheduleSpec
from ..worker.registry import Registration
from .schedule_convert import schedule_name, schedule_to_proto, spec_from_proto
from .status import Context, refuses_on_error
from .task_types import KnownTaskTypes
from .validation import check_page_size, check_page_token, check_queue


class ScheduleServicer(spb_grpc.ScheduleServiceServicer):
    """The RPCs of taskqueue.v1.ScheduleService."""

    def __init__(
        self,
        engine: Engine | None,
        registrations: Mapping[str, Registration],
        limits: RequestLimits,
        task_types: KnownTaskTypes,
    ) -> None:
        self._engine = engine
        self._registrations = registrations
        self._limits = limits
        self._task_types = task_types  # Enqueue's rule, and its cache, for the template

    def attach(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            raise StoreUnavailable("not connected yet; the server keeps trying")
        return self._engine

    async def _definition(self, schedule: spb.Schedule, creating: bool) -> ScheduleSpec:
        spec = spec_from_proto(schedule, self._limits, self._registrations, creating)
        task_type = {"schedule.task.task_type": spec.template.task_type}
        await self._task_types.require(self.engine, task_type)
        return spec

    @refuses_on_error
    async def CreateSchedule(
        self, request: spb.CreateScheduleRequest, context: Context
    ) -> spb.CreateScheduleResponse:
        spec = await self._definition(request.schedule, creating=True)
        schedule = await self.engine.create_schedule(spec)
        return spb.CreateScheduleResponse(schedule=schedule_to_proto(schedule))

    @refuses_on_error
    async def GetSchedule(
        self, request: spb.GetScheduleRequest, context: Context
    ) -> spb.GetScheduleResponse:
        name = schedule_name(request.queue, request.schedule_id)
        schedule = await self.engine.get_schedule(*name)
        return spb.GetScheduleResponse(schedule=schedule_to_proto(schedule))

    @refuses_on_error
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

    @refuses_on_error
    async def UpdateSchedule(
        self, request: spb.UpdateScheduleRequest, context: Context
    ) -> spb.UpdateScheduleResponse:
        spec = await self._definition(request.schedule, creating=False)
        schedule = await self.engine.update_schedule(spec)
        return spb.UpdateScheduleResponse(schedule=schedule_to_proto(schedule))

    @refuses_on_error
    async def DeleteSchedule(
        self, request: spb.DeleteScheduleRequest, context: Context
    ) -> spb.DeleteScheduleResponse:
        await self.engine.delete_schedule(*schedule_name(request.queue, request.schedule_id))
        return spb.DeleteScheduleResponse()

    @refuses_on_error
    async def PauseSchedule(
        self, request: spb.PauseScheduleRequest, context: Context
    ) -> spb.PauseScheduleResponse:
        name = schedule_name(request.queue, request.schedule_id)
        schedule = await self.engine.pause_schedule(*name)
        return spb.PauseScheduleResponse(schedule=schedule_to_proto(schedule))

    @refuses_on_error
    async def ResumeSchedule(
        self, request: spb.ResumeScheduleRequest, context: Context
    ) -> spb.ResumeScheduleResponse:
        name = schedule_name(request.queue, request.schedule_id)
        schedule = await self.engine.resume_schedule(*name)
        return spb.ResumeScheduleResponse(schedule=schedule_to_proto(schedule))
