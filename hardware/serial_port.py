"""Serial ports read through the event loop, for both ends of a device link.

Owns the handful of lines the modem and scanner drivers, and their simulators' pty front ends,
would otherwise each repeat: open (foreign errors become one ``PortUnavailable``), read when the
fd is readable (``loop.add_reader``, no threads), notice a lost port, close idempotently.
- ``SerialPort``: the driver's end, a pyserial port on a path (a USB-CDC device, or a pty's
  stable link in tests). A failed read (EIO on a hung-up tty) closes it and calls ``on_lost``;
  the driver decides when to open it again (the modem on its next command, the scanner every
  ``reconnect_interval_s``).
- ``PtyPort``: the device's end in the simulators, a ``PtyPair`` whose stable link the driver
  opens; the simulator writes its bytes there and, when it answers commands, reads them back.
What a port's bytes mean is the parsers' business: never imports a parser, a driver or a simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any, Callable

import serial

from hardware.pty_pair import PtyPair

SerialFactory = Callable[[str], Any]


class PortUnavailable(Exception):
    """The port could not be opened or written; ``str()`` is the foreign error's own text."""


class SerialPort:
    """The driver's end: one pyserial port, read on the event loop."""

    def __init__(self, path: str, factory: SerialFactory, *, read_bytes: int,
                 on_data: Callable[[bytes], None], on_lost: Callable[[str], None]) -> None:
        self.path = path
        self._factory = factory
        self._read_bytes = read_bytes
        self._on_data = on_data
        self._on_lost = on_lost
        self._port: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        """Open the port and start reading it (nothing when open). Raises ``PortUnavailable``."""
        if self._port is not None:
            return
        try:
            port = self._factory(self.path)
        except (serial.SerialException, OSError, ValueError) as e:
            raise PortUnavailable(str(e)) from e
        self._loop = asyncio.get_running_loop()
        self._port = port
        self._loop.add_reader(port.fileno(), self._readable)

    def write(self, data: bytes) -> None:
        """Write to the open port. Raises ``PortUnavailable``; the caller decides what is lost."""
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as e:
            raise PortUnavailable(str(e)) from e

    def reset_input(self) -> None:
        """Drop what arrived and was not read yet (a late answer after a timeout)."""
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.reset_input_buffer()

    def _readable(self) -> None:
        try:
            data = self._port.read(self._read_bytes)
        except (serial.SerialException, OSError) as e:
            self.close()
            self._on_lost(str(e))
            return
        self._on_data(data)

    def close(self) -> None:
        """Stop reading and close the port; safe to call when already closed."""
        if self._port is None:
            return
        with contextlib.suppress(Exception):
            if self._loop is not None:
                self._loop.remove_reader(self._port.fileno())
        with contextlib.suppress(Exception):
            self._port.close()
        self._port = None


class PtyPort:
    """The device's end in a simulator: a pty pair behind ``link``; read only with ``on_data``."""

    def __init__(self, link: Path | None, on_data: Callable[[bytes], None] | None = None,
                 read_bytes: int = 4096) -> None:
        self.link = link
        self._on_data = on_data
        self._read_bytes = read_bytes
        self.pair: PtyPair | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_open(self) -> bool:
        return self.pair is not None and not self.pair.closed

    @property
    def path(self) -> str:
        """What the driver opens: the stable link, else the current slave (``open()`` first)."""
        if self.link is not None:
            return str(self.link)
        assert self.pair is not None, "open() first"
        return self.pair.path

    def open(self) -> None:
        """Plug in: a new pty, the link pointed at it (nothing when open)."""
        if self.is_open:
            return
        self.pair = PtyPair.open(self.link)
        if self._on_data is not None:
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self.pair.master_fd, self._readable)

    def write(self, data: bytes) -> None:
        """Send to the driver; bytes sent while unplugged are lost, as on a cable."""
        if data and self.pair is not None and not self.pair.closed:
            os.write(self.pair.master_fd, data)

    def _readable(self) -> None:
        assert self.pair is not None
        try:
            data = os.read(self.pair.master_fd, self._read_bytes)
        except OSError:
            return
        assert self._on_data is not None
        self._on_data(data)

    def close(self) -> None:
        """Unplug: the driver sees a hang-up and the link goes (as udev removes it)."""
        if self.pair is None or self.pair.closed:
            return
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.pair.master_fd)
        self.pair.close()


__all__ = ["SerialPort", "PtyPort", "PortUnavailable", "SerialFactory"]
