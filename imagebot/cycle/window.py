"""Delivery windows (`spec.schedule` of an ImageUpdateAutomation, Renovate's `schedule`).

A window is a five-field cron expression read in a time zone: every minute it matches is a minute
in which the automation may commit and push. `* 9-16 * * 1-5` is open from 09:00 to 16:59 on
working days. Cron parsing and the next matching time are APScheduler's (`CronTrigger`), which
also knows what a daylight-saving change does to a local time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger


class Window(Protocol):
    """What a window is made of: the config model `DeliveryWindow` has these fields."""

    @property
    def cron(self) -> str: ...

    @property
    def time_zone(self) -> str: ...


@dataclass(frozen=True)
class WindowState:
    """Whether delivery is allowed at a moment, and if not, when it next is (None: never)."""

    open: bool
    opens_at: datetime | None = None


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError naming it when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin or UTC)") \
            from None


_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _crontab_weekdays(field: str) -> str:
    """The weekday field with crontab's numbers (0 or 7 Sunday, 1 Monday) as day names.

    APScheduler 3 numbers weekdays from Monday = 0 (its `from_crontab` warns of this, agronholm/
    apscheduler#286), so `1-5` would mean Tuesday to Saturday there. Names mean the same to both;
    a named item is passed through for APScheduler to judge."""
    out = []
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        if (base == "*" and not step_text) or any(c.isalpha() for c in base):
            out.append(item)
            continue
        first, dash, last = ("0-6" if base == "*" else base).partition("-")
        if not (first.isdigit() and (last.isdigit() or not dash) and (step_text.isdigit() or not step_text)):
            raise ValueError(f"weekday {item!r} is not a number, a range or a name")
        low, high = int(first), int(last) if last else (6 if step_text else int(first))
        step = int(step_text) if step_text else 1
        if high > 7 or low > high or step < 1:
            raise ValueError(f"weekday {item!r} is outside 0-7 (0 and 7 are Sunday) or not ascending")
        out.extend(_DAY_NAMES[day % 7] for day in range(low, high + 1, step))
    return ",".join(dict.fromkeys(out))


def cron_trigger(cron: str, zone: str = "UTC") -> CronTrigger:
    """APScheduler's trigger for `cron` (crontab's meaning) in `zone`; ValueError saying what is wrong."""
    tz = time_zone(zone)
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"expected a cron expression of five fields (minute hour day month weekday), got {cron!r}")
    try:
        fields[4] = _crontab_weekdays(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=tz)
    except (ValueError, TypeError) as err:
        raise ValueError(f"invalid cron expression {cron!r}: {err}") from None


def _minute(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def window_state(windows: Iterable[Window], now: datetime) -> WindowState:
    """Open when the minute of `now` matches any window; else the earliest next opening of any."""
    if now.tzinfo is None:
        raise ValueError("window_state needs an aware datetime")
    openings = []
    for window in windows:
        trigger = cron_trigger(window.cron, window.time_zone)
        local = now.astimezone(trigger.timezone)
        minute = _minute(local)
        if trigger.get_next_fire_time(None, minute) == minute:
            return WindowState(open=True)
        nxt = trigger.get_next_fire_time(None, local)
        if nxt is not None:
            openings.append(nxt)
    return WindowState(open=False, opens_at=min(openings) if openings else None)
