"""Hybrid logical clock (HLC) timestamps for journal entries.

A timestamp is one int: wall milliseconds << 16 | logical counter. It never goes backwards on a
terminal even when the wall clock is stepped back, and it moves past any timestamp observed from
HQ, so that events stay ordered across terminals whose clocks disagree (see LEARNED.md, VxPollBook).
"""

from __future__ import annotations

from ground.clock import Clock

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1


def pack(wall_ms: int, logical: int) -> int:
    return (wall_ms << LOGICAL_BITS) | (logical & LOGICAL_MASK)


def wall_ms_of(ts: int) -> int:
    return ts >> LOGICAL_BITS


class HybridClock:
    def __init__(self, clock: Clock, last: int = 0) -> None:
        self._clock = clock
        self.last = last

    def tick(self) -> int:
        """A new timestamp, greater than every one issued or observed before."""
        wall = self._clock.wall_ms()
        last_wall, last_logical = self.last >> LOGICAL_BITS, self.last & LOGICAL_MASK
        if wall > last_wall:
            self.last = pack(wall, 0)
        elif last_logical < LOGICAL_MASK:
            self.last = pack(last_wall, last_logical + 1)
        else:  # counter exhausted inside one millisecond: borrow the next millisecond
            self.last = pack(last_wall + 1, 0)
        return self.last

    def observe(self, remote: int) -> None:
        """Move past a timestamp seen from elsewhere (HQ's stream)."""
        if remote > self.last:
            self.last = remote
