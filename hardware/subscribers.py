"""``Subscribers``: fan-out of a device's values (statuses, scans) to callbacks and queues.

Shared by every device folder; pure (asyncio only for the queue type, no I/O), so a device's
``base.py`` can re-export it without importing a port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscribers(Generic[T]):
    """Fan-out of values to callbacks and to async iterators (each with its own queue)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], None]] = []
        self._queues: list[asyncio.Queue[T]] = []

    def add_listener(self, callback: Callable[[T], None]) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def publish(self, value: T) -> None:
        for cb in list(self._callbacks):
            cb(value)
        for q in list(self._queues):
            q.put_nowait(value)

    def queue(self) -> "asyncio.Queue[T]":
        """A queue that receives every later value (for tests and simple consumers)."""
        q: asyncio.Queue[T] = asyncio.Queue()
        self._queues.append(q)
        return q

    async def stream(self) -> AsyncIterator[T]:
        q = self.queue()
        try:
            while True:
                yield await q.get()
        finally:
            self._queues.remove(q)
