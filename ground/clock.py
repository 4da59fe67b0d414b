"""Clocks and Japan time. Code that reads the time takes a ``Clock`` (STYLE rule 6).

Every date and time meibo reasons about is Japan time (Asia/Tokyo), whatever zone the machine's
clock is set to. ``--now`` on the command line becomes a ``FixedClock``.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from ground.errors import UsageError

JST = ZoneInfo("Asia/Tokyo")


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware datetime in Japan time."""
        ...

    def wall_ms(self) -> int:
        """Milliseconds since the epoch (for hybrid logical clocks)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(JST)

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000


class FixedClock:
    """A clock that stands still (or is moved by hand): for tests, rehearsals and ``--now``."""

    def __init__(self, at: datetime) -> None:
        self._at = to_jst(at)

    def now(self) -> datetime:
        return self._at

    def wall_ms(self) -> int:
        return int(self._at.timestamp() * 1000)

    def set(self, at: datetime) -> None:
        self._at = to_jst(at)


def to_jst(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        return dt.replace(tzinfo=JST)
    return dt.astimezone(JST)


def parse_now(text: str) -> datetime:
    """Parse ``--now``: ISO 8601; a time without zone is Japan time."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now の日時が読めません: {text!r}（例: 2027-04-25T08:30）", code="bad_now")
    return to_jst(dt)


def clock_from_arg(now: str | None) -> Clock:
    return FixedClock(parse_now(now)) if now else SystemClock()


def today(clock: Clock) -> date:
    return clock.now().date()
