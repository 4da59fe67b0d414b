"""One seeded scheduler with virtual time: a priority queue of callbacks ordered by (time, FIFO).

Owns virtual time (integer milliseconds) and the trace hash. Must never import ``time``,
``asyncio`` or anything that does I/O; randomness comes from ``substream()`` only, which derives
independent ``random.Random`` streams from the run's one seed so that adding draws in one
component does not shift the draws of another.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from typing import Any, Callable


def substream(seed: int, name: str) -> random.Random:
    """A random stream derived deterministically from (seed, name) (str seeds hash with SHA-512,
    not with Python's randomized ``hash()``)."""
    return random.Random(f"meibo-sim/{seed}/{name}")


class Scheduler:
    def __init__(self, keep_trace: bool = False) -> None:
        self.now = 0  # virtual milliseconds since the start of the run
        self._q: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._n = 0
        self._hash = hashlib.sha256()
        self.trace_lines: list[str] | None = [] if keep_trace else None
        self.steps = 0

    def at(self, t: int, fn: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._q, (max(int(t), self.now), self._n, fn, args))
        self._n += 1

    def after(self, delay: int, fn: Callable[..., None], *args: Any) -> None:
        self.at(self.now + int(delay), fn, *args)

    def run_until(self, t: int) -> None:
        q = self._q
        while q and q[0][0] <= t:
            when, _, fn, args = heapq.heappop(q)
            self.now = when
            self.steps += 1
            fn(*args)
        if t > self.now:
            self.now = t

    def trace(self, line: str) -> None:
        s = f"{self.now} {line}"
        self._hash.update(s.encode("utf-8") + b"\n")
        if self.trace_lines is not None:
            self.trace_lines.append(s)

    def trace_hash(self) -> str:
        return self._hash.hexdigest()
