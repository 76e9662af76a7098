"""Schedules across 3 real server processes on one Redis: one task per tick, none lost when
a server is SIGKILLed or every server restarts; pause, resume and delete."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from taskqueue.v1 import schedule_pb2 as spb
from taskqueue.v1 import schedule_pb2_grpc as spb_grpc

from tests.e2e.helpers import Driver, rpc_error
from tests.support.server_process import ServerFactory, ServerProcess
from tests.support.waiting import wait_until

QUEUE = "beat"


class Schedules:
    """ScheduleService of one server, plus its tasks, over real channels."""

    def __init__(self, server: ServerProcess) -> None:
        self.driver = Driver(f"127.0.0.1:{server.port}")
        self.stub = spb_grpc.ScheduleServiceStub(self.driver.channel)

    def get(self, schedule_id: str = "tick") -> spb.Schedule:
        request = spb.GetScheduleRequest(queue=QUEUE, schedule_id=schedule_id)
        return self.stub.GetSchedule(request, timeout=10).schedule

    def ticks(self) -> list[int]:
        """The tick (ms) of every task the schedules enqueued, in order."""
        tasks = self.driver.list_all(QUEUE, page_size=1000)
        assert all(t.schedule_id == "tick" for t in tasks)
        return sorted(t.schedule_tick_at.ToMilliseconds() for t in tasks)


def every_second(stub: spb_grpc.ScheduleServiceStub) -> spb.Schedule:
    schedule = spb.Schedule(
        schedule_id="tick",
        queue=QUEUE,
        interval_seconds=1,
        task=spb.TaskTemplate(task_type="echo"),
    )
    return stub.CreateSchedule(spb.CreateScheduleRequest(schedule=schedule), timeout=10).schedule


def assert_one_task_per_tick(ticks: list[int], first: int) -> None:
    assert ticks[0] == first
    assert ticks == [first + 1000 * i for i in range(len(ticks))], "a tick ran twice or not at all"


@pytest.fixture
def three(servers: ServerFactory) -> Iterator[list[ServerProcess]]:
    yield [servers.start() for _ in range(3)]


def test_each_tick_runs_once_across_three_servers_and_a_sigkill(
    three: list[ServerProcess], servers: ServerFactory
) -> None:
    creator, victim, survivor = (Schedules(s) for s in three)
    first = every_second(creator.stub).next_run_at.ToMilliseconds()
    wait_until(lambda: len(survivor.ticks()) >= 3, 20, "3 ticks")
    three[1].kill()
    fired_before = len(survivor.ticks())
    wait_until(lambda: len(survivor.ticks()) >= fired_before + 3, 20, "3 ticks after the kill")
    # Every server stops; the next one to start fires the ticks of the outage (< 1 min).
    for server in (three[0], three[2]):
        server.stop()
    time.sleep(2.5)
    restarted = Schedules(servers.start())
    fired_before = len(restarted.ticks())
    wait_until(lambda: len(restarted.ticks()) >= fired_before + 4, 20, "ticks after a restart")
    paused = restarted.stub.PauseSchedule(
        spb.PauseScheduleRequest(queue=QUEUE, schedule_id="tick"), timeout=10
    ).schedule
    ticks = restarted.ticks()
    assert_one_task_per_tick(ticks, first)
    assert (paused.fired_runs, paused.missed_runs) == (len(ticks), 0)
    assert paused.last_run_at.ToMilliseconds() == ticks[-1]
    del victim


def test_pause_resume_and_delete(three: list[ServerProcess]) -> None:
    one, other, _ = (Schedules(s) for s in three)
    every_second(one.stub)
    wait_until(lambda: one.ticks(), 20, "a first tick")
    name = {"queue": QUEUE, "schedule_id": "tick"}
    paused = other.stub.PauseSchedule(spb.PauseScheduleRequest(**name), timeout=10).schedule
    assert paused.paused and not paused.HasField("next_run_at")
    count = len(one.ticks())
    time.sleep(2.5)  # two ticks' worth: none may run while paused
    assert len(one.ticks()) == count

    resumed = other.stub.ResumeSchedule(spb.ResumeScheduleRequest(**name), timeout=10).schedule
    assert not resumed.paused and resumed.missed_runs == 0
    wait_until(lambda: len(one.ticks()) >= count + 2, 20, "ticks after resuming")

    other.stub.DeleteSchedule(spb.DeleteScheduleRequest(**name), timeout=10)
    assert rpc_error(one.get).code() == grpc.StatusCode.NOT_FOUND
    count = len(one.ticks())
    time.sleep(2.5)
    assert len(one.ticks()) == count


def test_bad_definitions_are_refused_naming_the_field_and_store_nothing(
    servers: ServerFactory,
) -> None:
    schedules = Schedules(servers.start())
    for trigger, task_type, field in (
        ({"cron": "0 9 * * mon-fri extra"}, "echo", "schedule.cron"),
        ({"cron": "0 9 * * *", "time_zone": "Europe/Nowhere"}, "echo", "schedule.time_zone"),
        ({"interval_seconds": -2}, "echo", "schedule.interval_seconds"),
        ({"interval_seconds": 60}, "no_such_handler", "schedule.task.task_type"),
    ):
        schedule = spb.Schedule(
            schedule_id="bad", queue=QUEUE, task=spb.TaskTemplate(task_type=task_type), **trigger
        )
        error = rpc_error(
            schedules.stub.CreateSchedule, spb.CreateScheduleRequest(schedule=schedule), timeout=10
        )
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error.details().startswith(field + ":"), error.details()
    listed = schedules.stub.ListSchedules(spb.ListSchedulesRequest(queue=QUEUE), timeout=10)
    assert list(listed.schedules) == []
