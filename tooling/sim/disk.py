"""Simulated disks with fsync boundaries: records written are durable only once an fsync that
started after them has completed; a crash loses every record not yet durable.

fsyncs complete in the order they were requested (a later fsync never finishes before an
earlier one), so durability is always a prefix of what was written. Pure: no real files.
"""

from __future__ import annotations

import random
from typing import Callable, Generic, TypeVar

from tooling.sim.scheduler import Scheduler

T = TypeVar("T")


class SimDisk(Generic[T]):
    def __init__(self, sched: Scheduler, rng: random.Random, latency_ms: tuple[int, int]) -> None:
        self._sched = sched
        self._rng = rng
        self._lat = latency_ms
        self.records: list[T] = []
        self.durable_n = 0
        self._epoch = 0  # bumped by a crash: fsyncs in flight then never complete
        self._last_done = 0
        self.fsyncs = 0

    def write(self, rec: T) -> int:
        self.records.append(rec)
        return len(self.records)

    def fsync(self, done: Callable[[], None] | None = None) -> None:
        """Make everything written so far durable; call ``done`` when it is."""
        target = len(self.records)
        t = max(self._sched.now + self._rng.randint(*self._lat), self._last_done)
        self._last_done = t
        self.fsyncs += 1
        self._sched.at(t, self._done, self._epoch, target, done)

    def _done(self, epoch: int, target: int, done: Callable[[], None] | None) -> None:
        if epoch != self._epoch:
            return
        if target > self.durable_n:
            self.durable_n = target
        if done is not None:
            done()

    def crash(self) -> int:
        """Power loss: forget what is not durable. Returns how many records were lost."""
        lost = len(self.records) - self.durable_n
        del self.records[self.durable_n:]
        self._epoch += 1
        self._last_done = self._sched.now
        return lost

    def durable(self) -> list[T]:
        return self.records[: self.durable_n]

    @property
    def dirty(self) -> bool:
        return len(self.records) > self.durable_n
