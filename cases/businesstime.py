"""Business-time arithmetic: how much working time lies between two instants on a calendar, and when a given
amount of working time runs out, with pauses taken off. Pure Python (no Django): the service-level code in
cases/servicelevels.py feeds it a partner's calendar.

A calendar is a time zone, shifts per weekday in local wall-clock minutes (a split shift is two shifts; a
shift may end at 1440, midnight), and closed days (public holidays and the partner's own), local dates. Shifts
are laid on local dates and converted to UTC, so a shift on the day a clock changes is as long as the wall
clock says: 09:00-17:00 is always eight hours, 00:00-24:00 is 23 hours on the spring-forward day.
"""

from __future__ import annotations

import datetime
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = datetime.UTC
MINUTES_PER_DAY = 24 * 60
# A calendar so closed that no working time turns up in this many days is a mistake, not a wait.
SEARCH_DAYS = 3 * 366

Shift = tuple[int, int]  # (start, end) in minutes after local midnight, start < end <= 1440
Pause = tuple[datetime.datetime, datetime.datetime | None]  # end None: still paused


class CalendarError(ValueError):
    """A calendar that cannot be used (no working time at all, a bad shift)."""


@dataclass(frozen=True)
class Calendar:
    time_zone: ZoneInfo
    # weekday (0 Monday … 6 Sunday) -> shifts in order, not overlapping
    shifts: Mapping[int, Sequence[Shift]]
    closed: Container[datetime.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        for weekday, day in self.shifts.items():
            if weekday not in range(7):
                raise CalendarError(f"weekday {weekday} is not 0-6")
            end_before = 0
            for start, end in day:
                if not 0 <= start < end <= MINUTES_PER_DAY or start < end_before:
                    raise CalendarError(f"bad or overlapping shift {start}-{end} on weekday {weekday}")
                end_before = end
        if not any(self.shifts.get(weekday) for weekday in range(7)):
            raise CalendarError("a calendar needs at least one working shift")


def around_the_clock(time_zone: str = "UTC") -> Calendar:
    """Every minute of every day is working time."""
    return Calendar(ZoneInfo(time_zone), {weekday: ((0, MINUTES_PER_DAY),) for weekday in range(7)})


def _local(day: datetime.date, minutes: int, tz: ZoneInfo) -> datetime.datetime:
    # Wall-clock arithmetic on a naive time, then the zone: 24:00 is the next day's midnight, and a time the
    # clock skips (02:30 on spring-forward day) maps forward, by the offset in force before the change.
    naive = datetime.datetime.combine(day, datetime.time()) + datetime.timedelta(minutes=minutes)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def working_intervals(
    calendar: Calendar, start: datetime.datetime
) -> Iterator[tuple[datetime.datetime, datetime.datetime]]:
    """The calendar's working intervals (UTC, in order) from start onwards, the first one cut at start."""
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    start = start.astimezone(UTC)
    day = start.astimezone(calendar.time_zone).date() - datetime.timedelta(days=1)
    idle = 0
    while idle <= SEARCH_DAYS:
        found = False
        if day not in calendar.closed:
            for begin, end in calendar.shifts.get(day.weekday(), ()):
                lo, hi = _local(day, begin, calendar.time_zone), _local(day, end, calendar.time_zone)
                if hi <= start:
                    continue
                found = True
                yield max(lo, start), hi
        idle = 0 if found else idle + 1
        day += datetime.timedelta(days=1)
    raise CalendarError(f"no working time in {SEARCH_DAYS} days after {start.isoformat()}")


def _merged(pauses: Iterable[Pause]) -> list[tuple[datetime.datetime, datetime.datetime | None]]:
    """Pauses in order with overlaps merged (an open pause swallows every later one)."""
    merged: list[list] = []
    for begin, end in sorted(pauses, key=lambda pause: pause[0]):
        if merged and (merged[-1][1] is None or begin <= merged[-1][1]):
            if merged[-1][1] is not None and (end is None or end > merged[-1][1]):
                merged[-1][1] = end
            continue
        merged.append([begin, end])
    return [(begin, end) for begin, end in merged]


def _running(
    calendar: Calendar, start: datetime.datetime, pauses: Iterable[Pause]
) -> Iterator[tuple[datetime.datetime, datetime.datetime | None]]:
    """Working intervals from start with the pauses cut out, ending (None as the end) at an open pause."""
    pending = _merged(pauses)
    for lo, hi in working_intervals(calendar, start):
        while lo < hi:
            while pending and pending[0][1] is not None and pending[0][1] <= lo:
                pending.pop(0)
            if not pending or pending[0][0] >= hi:
                yield lo, hi
                break
            pause_start, pause_end = pending[0]
            if pause_start > lo:
                yield lo, pause_start
            if pause_end is None:
                yield max(lo, pause_start), None
                return
            lo = max(lo, pause_end)


def business_time(
    calendar: Calendar, start: datetime.datetime, end: datetime.datetime, pauses: Iterable[Pause] = ()
) -> datetime.timedelta:
    """Working time between start and end, less the pauses."""
    total = datetime.timedelta()
    if end <= start:
        return total
    for lo, hi in _running(calendar, start, pauses):
        if lo >= end:
            break
        if hi is None:
            break
        total += min(hi, end) - lo
        if hi >= end:
            break
    return total


def business_add(
    calendar: Calendar, start: datetime.datetime, amount: datetime.timedelta, pauses: Iterable[Pause] = ()
) -> datetime.datetime | None:
    """The instant when amount of working time since start has passed, the pauses not counting; None if an
    open pause stops the clock first."""
    if amount < datetime.timedelta():
        raise ValueError("amount must not be negative")
    left = amount
    for lo, hi in _running(calendar, start, pauses):
        if hi is None:
            return None
        if left <= hi - lo:
            return lo + left
        left -= hi - lo
    raise AssertionError("unreachable: working_intervals ends by raising")  # pragma: no cover
