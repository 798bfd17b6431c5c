"""Delivery windows: open minutes and next openings, judged at injected times (APScheduler's cron)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from imagebot.cycle.window import cron_trigger, time_zone, window_state

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class W:
    cron: str
    time_zone: str = "UTC"


WORKDAYS = W("* 9-16 * * 1-5", "Europe/Berlin")


@pytest.mark.parametrize(("now", "is_open", "opens"), [
    # Wednesday 2026-11-25, Berlin is UTC+1 in November
    (datetime(2026, 11, 25, 8, 0, tzinfo=UTC), True, None),                   # 09:00 Berlin
    (datetime(2026, 11, 25, 15, 59, 59, tzinfo=UTC), True, None),             # 16:59:59 Berlin
    (datetime(2026, 11, 25, 16, 0, tzinfo=UTC), False, datetime(2026, 11, 26, 9, 0, tzinfo=BERLIN)),
    (datetime(2026, 11, 25, 7, 59, 30, tzinfo=UTC), False, datetime(2026, 11, 25, 9, 0, tzinfo=BERLIN)),
    # Friday evening: the next opening is Monday morning
    (datetime(2026, 11, 27, 18, 0, tzinfo=UTC), False, datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)),
    # Saturday at 10:00 Berlin: the hours match, the weekday does not
    (datetime(2026, 11, 28, 9, 0, tzinfo=UTC), False, datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)),
])
def test_working_hours_in_berlin(now: datetime, is_open: bool, opens: datetime | None) -> None:
    state = window_state([WORKDAYS], now)
    assert state.open is is_open
    assert state.opens_at == opens


def test_summer_time_moves_the_window_in_utc() -> None:
    # 2026-07-01 is a Wednesday; Berlin is UTC+2: 07:00 UTC is 09:00 there
    assert window_state([WORKDAYS], datetime(2026, 7, 1, 7, 0, tzinfo=UTC)).open
    assert not window_state([WORKDAYS], datetime(2026, 7, 1, 15, 0, tzinfo=UTC)).open


def test_any_of_several_windows_opens_delivery_and_the_earliest_opening_is_given() -> None:
    windows = [W("0-29 3 * * *"), W("* 20 * * *", "America/New_York")]
    assert window_state(windows, datetime(2026, 11, 25, 3, 10, tzinfo=UTC)).open
    assert window_state(windows, datetime(2026, 11, 26, 1, 5, tzinfo=UTC)).open  # 20:05 New York (UTC-5)
    state = window_state(windows, datetime(2026, 11, 25, 4, 30, tzinfo=UTC))
    assert not state.open
    assert state.opens_at is not None
    assert state.opens_at.astimezone(UTC) == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(("weekdays", "open_on"), [
    # crontab's numbers, not APScheduler 3's (which counts from Monday = 0)
    ("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
    ("0", {"Sun"}),
    ("7", {"Sun"}),
    ("6,0", {"Sat", "Sun"}),
    ("5-7", {"Fri", "Sat", "Sun"}),
    ("*/2", {"Sun", "Tue", "Thu", "Sat"}),
    ("1-5/2", {"Mon", "Wed", "Fri"}),
    ("mon-fri", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
    ("sat,sun", {"Sat", "Sun"}),
    ("*", {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}),
])
def test_weekdays_mean_what_they_mean_in_crontab(weekdays: str, open_on: set[str]) -> None:
    week = [datetime(2026, 11, d, 12, 0, tzinfo=UTC) for d in range(23, 30)]  # Monday 23 to Sunday 29
    assert {d.strftime("%a") for d in week if window_state([W(f"* * * * {weekdays}")], d).open} == open_on


def test_a_single_minute_window_is_open_for_that_minute_only() -> None:
    window = [W("30 12 * * *")]
    assert window_state(window, datetime(2026, 11, 25, 12, 30, 59, tzinfo=UTC)).open
    state = window_state(window, datetime(2026, 11, 25, 12, 31, tzinfo=UTC))
    assert not state.open
    assert state.opens_at == datetime(2026, 11, 26, 12, 30, tzinfo=UTC)


def test_a_window_that_never_comes_has_no_opening() -> None:
    state = window_state([W("0 0 31 2 *")], datetime(2026, 11, 25, tzinfo=UTC))
    assert state == type(state)(open=False, opens_at=None)


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        window_state([WORKDAYS], datetime(2026, 11, 25, 9, 0))


@pytest.mark.parametrize(("cron", "message"), [
    ("* 9-17", "five fields"),
    ("* * * * * *", "five fields"),
    ("61 * * * *", "invalid cron expression '61 \\* \\* \\* \\*'"),
    ("* 9-25 * * *", "invalid cron expression"),
    ("* * * * funday", "invalid cron expression"),
    ("* * * * 8", "outside 0-7"),
    ("* * * * 5-1", "not ascending"),
    ("* * * * 1-", "not a number"),
])
def test_bad_cron_is_a_value_error_quoting_it(cron: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron_trigger(cron)


def test_unknown_time_zone_is_named() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Atlantis'"):
        time_zone("Europe/Atlantis")
    with pytest.raises(ValueError, match=r"unknown time zone '\.\./etc/passwd'"):
        time_zone("../etc/passwd")
