"""The real scanner driver: pyserial on a USB-CDC port, the pure ``ScanDecoder`` on the bytes.

Owns: opening the port (exclusively), reading it via ``loop.add_reader`` (no threads), noticing a
disconnect (the read fails: EIO on a hung-up tty) and reopening the same path every
``reconnect_interval_s`` until the scanner is back (the port itself: ``hardware.serial_port``). Foreign errors become events or ``ScannerError``s.
Never imports the simulator; reads the time only through the injected ``Clock``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable

import serial

from ground.clock import Clock, SystemClock
from ground.model import BarcodeFormat
from hardware.scanner.base import (ScanEvent, ScannerClosed, ScannerConnected, ScannerDisconnected,
                                   ScannerStatus, Subscribers)
from hardware.scanner.parser import ScanDecoder
from hardware.serial_port import PortUnavailable, SerialFactory, SerialPort
from hardware.settings import ScannerSettings


def open_serial(path: str) -> Any:
    return serial.Serial(path, baudrate=9600, timeout=0, exclusive=True)


class SerialScanner:
    """One line-oriented barcode scanner on one serial port. Implements ``Scanner``."""

    def __init__(self, path: str, fmt: BarcodeFormat, *, settings: ScannerSettings = ScannerSettings(),
                 clock: Clock | None = None, name: str | None = None,
                 serial_factory: SerialFactory = open_serial) -> None:
        self.path = path
        self._name = name or path
        self._settings = settings
        self._clock: Clock = clock or SystemClock()
        self._decoder = ScanDecoder(fmt, settings)
        self._subs: Subscribers[ScanEvent] = Subscribers()
        self._status = ScannerStatus(self._name, False, path)
        self._port = SerialPort(path, serial_factory, read_bytes=settings.read_chunk_bytes,
                                on_data=self._received, on_lost=self._lost)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reconnect: asyncio.Task[None] | None = None
        self._closed = False
        self.last_error: str | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def status(self) -> ScannerStatus:
        return self._status

    def add_listener(self, callback: Callable[[ScanEvent], None]) -> Callable[[], None]:
        return self._subs.add_listener(callback)

    def event_queue(self) -> "asyncio.Queue[ScanEvent]":
        return self._subs.queue()

    async def start(self) -> None:
        """Open the port now if it is there; otherwise keep retrying in the background."""
        if self._closed:
            raise ScannerClosed(f"{self._name}: 停止しています")
        self._loop = asyncio.get_running_loop()
        if not self._try_open():
            self._schedule_reconnect()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._reconnect = self._reconnect, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._port.close()
        self._status = ScannerStatus(self._name, False, self.path, self._status.reads, self._status.last_event,
                                     self._clock.now())

    # --- port ----------------------------------------------------------------------------
    def _try_open(self) -> bool:
        try:
            self._port.open()
        except PortUnavailable as e:
            self.last_error = str(e)
            return False
        self._decoder.splitter.reset()
        now = self._clock.now()
        self._status = ScannerStatus(self._name, True, self.path, self._status.reads, self._status.last_event, now)
        self._subs.publish(ScannerConnected(now))
        return True

    def _received(self, data: bytes) -> None:
        now = self._clock.now()
        for ev in self._decoder.feed(data, now):
            self._status = ScannerStatus(self._name, True, self.path, self._status.reads + 1, ev.kind, now)
            self._subs.publish(ev)

    def _lost(self, reason: str) -> None:
        self._port.close()
        now = self._clock.now()
        self._status = ScannerStatus(self._name, False, self.path, self._status.reads, self._status.last_event, now)
        self._subs.publish(ScannerDisconnected(now, reason))
        self._schedule_reconnect()

    def _schedule_reconnect(self) -> None:
        if self._closed or (self._reconnect is not None and not self._reconnect.done()):
            return
        assert self._loop is not None
        self._reconnect = self._loop.create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._settings.reconnect_interval_s)
            if self._try_open():
                return
