"""The DST policy, pinned: each local wall-clock time that matches fires once; a time inside
a spring-forward gap fires at the gap's end, a repeated one at its first occurrence."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from taskqueue_server.engine.schedule_models import ScheduleSpec, TaskTemplate
from taskqueue_server.engine.store import RedisEngine
from taskqueue_server.engine.ticks import next_cron_tick

from tests.conftest import FakeClock

BERLIN = "Europe/Berlin"
NIGHTLY = TaskTemplate("nightly_report")


def utc_ms(*fields: int) -> int:
    return int(datetime(*fields, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def ticks(expression: str, start_ms: int, count: int) -> list[int]:
    found, after = [], start_ms
    for _ in range(count):
        after = next_cron_tick(expression, BERLIN, after)
        found.append(after)
    return found


def test_croniter_on_aware_times_fires_a_repeated_local_time_twice() -> None:
    """Why ticks.py does not hand croniter aware datetimes: this is its default behaviour."""
    start = datetime(2026, 10, 24, 12, tzinfo=ZoneInfo(BERLIN))
    it = croniter("30 2 * * *", start)
    first, second = it.get_next(datetime), it.get_next(datetime)
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert second.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 again


def test_a_skipped_local_time_fires_once_at_the_end_of_the_gap() -> None:
    # 2026-03-29: Berlin jumps from 02:00 CET to 03:00 CEST (01:00 UTC); 02:30 never happens.
    assert ticks("30 2 * * *", utc_ms(2026, 3, 28, 12), 2) == [
        utc_ms(2026, 3, 29, 1, 0),  # 03:00 CEST, just after the gap
        utc_ms(2026, 3, 30, 0, 30),  # 02:30 CEST the next day
    ]


def test_several_times_inside_one_gap_fire_once() -> None:
    # 02:00, 02:15, 02:30, 02:45 and 03:00 all land on 03:00 CEST: one tick.
    assert ticks("*/15 * * * *", utc_ms(2026, 3, 29, 0, 40), 3) == [
        utc_ms(2026, 3, 29, 0, 45),  # 01:45 CET
        utc_ms(2026, 3, 29, 1, 0),  # 03:00 CEST
        utc_ms(2026, 3, 29, 1, 15),  # 03:15 CEST
    ]


def test_a_repeated_local_time_fires_once_at_its_first_occurrence() -> None:
    # 2026-10-25: Berlin goes from 03:00 CEST back to 02:00 CET; 02:30 happens twice.
    assert ticks("30 2 * * *", utc_ms(2026, 10, 24, 12), 2) == [
        utc_ms(2026, 10, 25, 0, 30),  # 02:30 CEST, the first time
        utc_ms(2026, 10, 26, 1, 30),  # 02:30 CET the next day
    ]
    # Every half hour: the repeated 02:00 and 02:30 CET are not run again.
    assert ticks("*/30 * * * *", utc_ms(2026, 10, 24, 23, 50), 3) == [
        utc_ms(2026, 10, 25, 0, 0),  # 02:00 CEST
        utc_ms(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc_ms(2026, 10, 25, 2, 0),  # 03:00 CET
    ]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ((2026, 3, 28, 12), [(2026, 3, 29, 1, 0), (2026, 3, 30, 0, 30)]),
        ((2026, 10, 24, 12), [(2026, 10, 25, 0, 30), (2026, 10, 26, 1, 30)]),
    ],
    ids=["spring-forward", "fall-back"],
)
async def test_the_engine_fires_once_across_a_dst_day_on_a_fake_clock(
    engine: RedisEngine,
    clock: FakeClock,
    start: tuple[int, ...],
    expected: list[tuple[int, ...]],
) -> None:
    clock.now = utc_ms(*start) / 1000
    spec = ScheduleSpec("nightly", NIGHTLY, cron="30 2 * * *", time_zone=BERLIN)
    await engine.create_schedule(spec)
    for _ in range(6 * 40):  # 40 hours in 10-minute steps, the duty running at each
        clock.advance(600)
        await engine.fire_due_schedules()
    page = await engine.list_tasks("default", page_size=100)
    assert sorted(t.schedule_time_ms for t in page.tasks) == [utc_ms(*e) for e in expected]
    assert (await engine.get_schedule("default", "nightly")).missed_runs == 0
