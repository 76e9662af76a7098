"""When a schedule's ticks fall: cron expressions in an IANA time zone, or fixed intervals.

All the time-zone work happens here, in Python; the fire script only compares and stores the
millisecond instants this module computes.

DST policy (docs/schedules.md, "Daylight saving time"): a cron expression names local
wall-clock times, and each wall-clock time that matches fires once.
- A local time skipped by a spring-forward gap (02:30 in Europe/Berlin on the last Sunday of
  March) fires once, at the first instant after the gap (03:00 CEST); several matching times
  inside one gap still fire once.
- A local time repeated by a fall-back (02:30 on the last Sunday of October happens twice)
  fires once, at its first occurrence.
croniter iterated on aware datetimes agrees on the gap but fires a repeated time twice (see
tests/engine/test_ticks.py), so it is iterated on naive wall-clock times and each match is
placed on the time line here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .errors import EngineError, ErrorCode

# A tick later than this is missed (the missed-run policy decides); an earlier late tick runs.
MISFIRE_GRACE_MS = 60_000
# Counting the ticks of a very long outage one by one would take long; past this many, the
# count is this many and the schedule jumps to its first tick after the outage.
MAX_COUNTED_MISSES = 10_000


def check_cron(expression: str, time_zone: str) -> ZoneInfo:
    """INVALID_ARGUMENT unless `expression` has 5 valid fields and `time_zone` is known."""
    fields = expression.split()
    if len(fields) != 5 or not croniter.is_valid(expression):
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT,
            f"cron: {expression[:80]!r} is not a 5-field cron expression "
            "(minute hour day-of-month month day-of-week, e.g. '30 2 * * *')",
        )
    return zone(time_zone)


def zone(time_zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise EngineError(
            ErrorCode.INVALID_ARGUMENT,
            f"time_zone: unknown IANA time zone {time_zone[:80]!r} (e.g. 'Europe/Berlin', 'UTC')",
        ) from None


def next_cron_tick(expression: str, time_zone: str, after_ms: int) -> int:
    """The first tick strictly after `after_ms` (epoch ms), under the DST policy above."""
    tz = zone(time_zone)
    after = datetime.fromtimestamp(after_ms / 1000, UTC)
    matches = croniter(expression, after.astimezone(tz).replace(tzinfo=None))
    # A match can fall at or before `after` only in a repeated hour: its first occurrence is
    # behind us, so it is passed over (the policy's "fires once").
    while True:
        candidate = _instant(matches.get_next(datetime), tz)
        if candidate > after_ms:
            return candidate


def next_interval_tick(anchor_ms: int, interval_ms: int, after_ms: int) -> int:
    """The first anchor + n * interval strictly after `after_ms`."""
    if after_ms < anchor_ms:
        return anchor_ms
    return anchor_ms + ((after_ms - anchor_ms) // interval_ms + 1) * interval_ms


def _instant(wall: datetime, tz: ZoneInfo) -> int:
    """Epoch ms of a local wall-clock time: its first occurrence, or the gap's end."""
    first = wall.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall:
        return int(first.timestamp() * 1000)
    # Inside a gap: fold=1 reads it with the new offset (earlier instant), fold=0 with the old
    # one (later). The gap ends at the transition, between the two: find it to the second.
    low = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        moment = datetime.fromtimestamp(middle, tz)
        if moment.utcoffset() == first.utcoffset():
            low = middle
        else:
            high = middle
    return high * 1000
