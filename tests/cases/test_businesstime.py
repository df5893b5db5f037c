"""The business-time arithmetic of cases/businesstime.py, pinned against hand-counted calendars."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import holidays
import pytest

from cases.businesstime import (
    Calendar,
    CalendarError,
    around_the_clock,
    business_add,
    business_time,
)

H = datetime.timedelta(hours=1)
UTC = datetime.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")
NINE_TO_FIVE = {weekday: ((9 * 60, 17 * 60),) for weekday in range(5)}
SPLIT = {weekday: ((9 * 60, 12 * 60), (13 * 60, 18 * 60)) for weekday in range(5)}


def at(tz: ZoneInfo, *args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=tz)


def test_time_inside_one_shift_is_wall_clock_time() -> None:
    """Within a shift, business time is the plain difference."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    assert business_time(cal, at(UTC, 2026, 3, 2, 10), at(UTC, 2026, 3, 2, 13)) == 3 * H


def test_the_weekend_does_not_count() -> None:
    """Friday 15:00 to Monday 11:00 is four working hours."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    friday, monday = at(UTC, 2026, 3, 6, 15), at(UTC, 2026, 3, 9, 11)
    assert business_time(cal, friday, monday) == 4 * H
    assert business_add(cal, friday, 4 * H) == monday


def test_a_case_opened_on_saturday_starts_counting_on_monday() -> None:
    """Time added from a closed moment starts at the next opening."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    assert business_add(cal, at(UTC, 2026, 3, 7, 10), 2 * H) == at(UTC, 2026, 3, 9, 11)
    assert business_add(cal, at(UTC, 2026, 3, 7, 10), datetime.timedelta()) == at(UTC, 2026, 3, 9, 9)


def test_severity_b_escalated_friday_evening_is_due_monday() -> None:
    """The issue's example: four hours from Friday 19:00 end on Monday 13:00, not on Saturday."""
    cal = Calendar(BERLIN, NINE_TO_FIVE)
    due = business_add(cal, at(BERLIN, 2026, 3, 6, 19), 4 * H)
    assert due == at(BERLIN, 2026, 3, 9, 13)


def test_split_shifts_skip_the_lunch_break() -> None:
    """09-12 and 13-18: four hours from 10:00 end at 15:00."""
    cal = Calendar(UTC, SPLIT)
    start = at(UTC, 2026, 3, 2, 10)
    assert business_add(cal, start, 4 * H) == at(UTC, 2026, 3, 2, 15)
    assert business_time(cal, at(UTC, 2026, 3, 2, 11), at(UTC, 2026, 3, 2, 14)) == 2 * H
    # A full day is eight hours; the ninth runs into the next morning.
    assert business_add(cal, at(UTC, 2026, 3, 2, 9), 9 * H) == at(UTC, 2026, 3, 3, 10)


def test_an_amount_ending_exactly_at_a_shift_end_stays_on_that_day() -> None:
    """Three hours from 09:00 end at 12:00, not at 13:00 after the break."""
    cal = Calendar(UTC, SPLIT)
    assert business_add(cal, at(UTC, 2026, 3, 2, 9), 3 * H) == at(UTC, 2026, 3, 2, 12)


def test_public_holidays_are_closed() -> None:
    """China's National Day week (from the holidays package) is skipped."""
    cal = Calendar(SHANGHAI, NINE_TO_FIVE, holidays.country_holidays("CN"))
    # Wednesday 30 September 2026, 16:00; 1-7 October are holidays (the 3rd and 4th a weekend).
    start = at(SHANGHAI, 2026, 9, 30, 16)
    assert business_add(cal, start, 2 * H) == at(SHANGHAI, 2026, 10, 8, 10)


def test_own_closed_days_are_closed() -> None:
    """A partner's own closed day is skipped like a holiday."""
    cal = Calendar(UTC, NINE_TO_FIVE, frozenset({datetime.date(2026, 3, 3)}))
    assert business_add(cal, at(UTC, 2026, 3, 2, 16), 2 * H) == at(UTC, 2026, 3, 4, 10)
    assert business_time(cal, at(UTC, 2026, 3, 2, 9), at(UTC, 2026, 3, 5, 9)) == 16 * H


def test_time_zone_sets_where_the_day_begins() -> None:
    """09:00-17:00 in Shanghai is 01:00-09:00 UTC."""
    cal = Calendar(SHANGHAI, NINE_TO_FIVE)
    assert business_add(cal, at(UTC, 2026, 3, 2, 0), H) == at(UTC, 2026, 3, 2, 2)
    assert business_time(cal, at(UTC, 2026, 3, 2, 0), at(UTC, 2026, 3, 2, 12)) == 8 * H


def test_berlin_spring_forward_keeps_a_shift_eight_hours() -> None:
    """29 March 2026 Berlin springs forward; a Monday shift after it still runs 09-17 local."""
    cal = Calendar(BERLIN, {weekday: ((9 * 60, 17 * 60),) for weekday in range(7)})
    # Saturday 28 March 09:00 CET is 08:00 UTC; Sunday 29 March 09:00 CEST is 07:00 UTC.
    assert business_add(cal, at(BERLIN, 2026, 3, 28, 16), 2 * H) == at(BERLIN, 2026, 3, 29, 10)
    assert business_add(cal, at(BERLIN, 2026, 3, 28, 16), 2 * H) == at(UTC, 2026, 3, 29, 8)
    assert business_time(cal, at(BERLIN, 2026, 3, 28, 9), at(BERLIN, 2026, 3, 30, 9)) == 16 * H


def test_a_round_the_clock_day_is_23_hours_when_the_clock_springs_forward() -> None:
    """New York, 8 March 2026: a 00:00-24:00 day holds 23 hours, and 25 on 1 November."""
    cal = around_the_clock("America/New_York")
    assert business_time(cal, at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9)) == 23 * H
    assert business_time(cal, at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2)) == 25 * H
    # Two real hours from 01:30 EST end at 04:30 EDT.
    assert business_add(cal, at(NEW_YORK, 2026, 3, 8, 1, 30), 2 * H) == at(NEW_YORK, 2026, 3, 8, 4, 30)


def test_a_night_shift_across_the_new_york_fall_back_counts_the_repeated_hour() -> None:
    """00:00-04:00 on 1 November 2026 in New York is five real hours."""
    cal = Calendar(NEW_YORK, {6: ((0, 4 * 60),)})  # Sundays only
    start = at(NEW_YORK, 2026, 11, 1)
    assert business_time(cal, start, start + 10 * H) == 5 * H


def test_a_shift_in_the_skipped_hour_starts_when_the_clock_resumes() -> None:
    """A 02:30-05:00 shift on New York's spring-forward day runs 03:30-05:00 EDT: 90 minutes."""
    cal = Calendar(NEW_YORK, {6: ((150, 300),)})
    day = at(NEW_YORK, 2026, 3, 8)
    assert business_time(cal, day, day + 24 * H) == datetime.timedelta(minutes=90)


def test_pauses_stop_the_clock() -> None:
    """Two working hours paused push the due time by two working hours."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    start = at(UTC, 2026, 3, 2, 9)
    pauses = [(at(UTC, 2026, 3, 2, 10), at(UTC, 2026, 3, 2, 12))]
    assert business_add(cal, start, 4 * H, pauses) == at(UTC, 2026, 3, 2, 15)
    assert business_time(cal, start, at(UTC, 2026, 3, 2, 15), pauses) == 4 * H


def test_a_pause_outside_working_hours_changes_nothing() -> None:
    """A pause over the weekend takes no working time off."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    pauses = [(at(UTC, 2026, 3, 6, 18), at(UTC, 2026, 3, 9, 8))]
    assert business_add(cal, at(UTC, 2026, 3, 6, 15), 4 * H, pauses) == at(UTC, 2026, 3, 9, 11)


def test_a_pause_across_days_and_overlapping_pauses() -> None:
    """Overlapping pauses count once; a pause from Monday 16:00 to Tuesday 10:00 takes two hours."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    pauses = [
        (at(UTC, 2026, 3, 2, 16), at(UTC, 2026, 3, 3, 10)),
        (at(UTC, 2026, 3, 2, 16, 30), at(UTC, 2026, 3, 3, 9, 30)),
    ]
    start = at(UTC, 2026, 3, 2, 15)
    assert business_add(cal, start, 3 * H, pauses) == at(UTC, 2026, 3, 3, 12)
    assert business_time(cal, start, at(UTC, 2026, 3, 3, 12), pauses) == 3 * H


def test_a_pause_that_began_before_the_start() -> None:
    """A pause already running at the start delays the start to its end."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    pauses = [(at(UTC, 2026, 3, 2, 8), at(UTC, 2026, 3, 2, 11))]
    assert business_add(cal, at(UTC, 2026, 3, 2, 9), H, pauses) == at(UTC, 2026, 3, 2, 12)


def test_an_open_pause_leaves_no_due_time() -> None:
    """While the clock is stopped, the due time is unknown; a target reached before the pause is not."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    start = at(UTC, 2026, 3, 2, 9)
    pauses = [(at(UTC, 2026, 3, 2, 11), None)]
    assert business_add(cal, start, 4 * H, pauses) is None
    assert business_add(cal, start, H, pauses) == at(UTC, 2026, 3, 2, 10)
    assert business_time(cal, start, at(UTC, 2026, 3, 3, 17), pauses) == 2 * H


def test_end_before_start_is_no_time() -> None:
    """A reversed interval holds no working time."""
    cal = Calendar(UTC, NINE_TO_FIVE)
    assert business_time(cal, at(UTC, 2026, 3, 2, 12), at(UTC, 2026, 3, 2, 10)) == datetime.timedelta()


def test_business_add_and_business_time_agree() -> None:
    """For many starts and amounts, the time between start and the due time is the amount."""
    cal = Calendar(BERLIN, SPLIT, holidays.country_holidays("DE"))
    pauses = [(at(BERLIN, 2026, 3, 30, 10), at(BERLIN, 2026, 3, 31, 14))]
    start = at(BERLIN, 2026, 3, 25, 7)
    for hour in range(0, 24 * 9, 7):
        for amount in (H / 2, 3 * H, 11 * H, 30 * H):
            begin = start + hour * H
            due = business_add(cal, begin, amount, pauses)
            assert business_time(cal, begin, due, pauses) == amount, (begin, amount)


def test_a_calendar_without_working_time_is_refused() -> None:
    """No shifts at all is an error, as is a bad or overlapping shift."""
    with pytest.raises(CalendarError):
        Calendar(UTC, {})
    with pytest.raises(CalendarError):
        Calendar(UTC, {0: ((600, 540),)})
    with pytest.raises(CalendarError):
        Calendar(UTC, {0: ((540, 720), (700, 800))})


def test_a_calendar_closed_for_years_raises_instead_of_looping() -> None:
    """Working time that never comes is a clear error."""

    class Never:
        def __contains__(self, day: object) -> bool:
            return True

    with pytest.raises(CalendarError):
        business_add(Calendar(UTC, NINE_TO_FIVE, Never()), at(UTC, 2026, 3, 2), H)


def test_naive_datetimes_are_refused() -> None:
    """Instants must carry a zone."""
    with pytest.raises(ValueError):
        business_add(Calendar(UTC, NINE_TO_FIVE), datetime.datetime(2026, 3, 2, 9), H)
