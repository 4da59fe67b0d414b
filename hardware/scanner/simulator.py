"""A simulated 入場整理券 scanner: a pure domain object, its pty front end, and an in-process fake.

``ScannerSimulator`` (pure) turns domain actions into the bytes a scanner would send: ``scan()``,
``scan_voter()``, ``scan_garbage()`` (noise), ``scan_flipped()`` (one digit misread), ``unplug()``
and ``plug()``. ``ScannerPtyServer`` puts it behind a real pty with a stable link path; unplug closes
the pty and removes the link (as udev would), plug makes a new pty and points the link at it.
``SimulatedScanner`` is the in-process ``Scanner`` fake; the contract suite holds it and the real
driver to the same behaviour.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Callable

from ground.barcode import make_barcode
from ground.clock import Clock
from ground.model import BarcodeFormat
from hardware.pty_pair import PtyPair
from hardware.serial_port import PtyPort
from hardware.scanner.base import (ScanEvent, ScannerClosed, ScannerConnected, ScannerDisconnected,
                                   ScannerStatus, Subscribers)
from hardware.scanner.parser import ScanDecoder
from hardware.settings import ScannerSettings, Suffix


class ScannerSimulator:
    def __init__(self, suffix: Suffix = Suffix.CR) -> None:
        self.suffix = suffix
        self.plugged = True
        self._out = bytearray()
        self.on_output: Callable[[], None] | None = None
        self.on_plug: Callable[[bool], None] | None = None

    def scan(self, text: str) -> None:
        self.send_raw(text.encode("utf-8") + self.suffix.bytes)

    def scan_voter(self, voter_id: str, fmt: BarcodeFormat) -> str:
        code = make_barcode(voter_id, fmt)
        self.scan(code)
        return code

    def scan_garbage(self, rng: random.Random, length: int = 8) -> bytes:
        """Noise: random bytes (never the suffix byte) then the suffix."""
        end = self.suffix.bytes[-1]
        junk = bytes(b for b in (rng.randrange(256) for _ in range(length)) if b not in (end, 0x0D, 0x0A, 0x09))
        self.send_raw((junk or b"\x00") + self.suffix.bytes)
        return junk

    def scan_flipped(self, text: str, rng: random.Random) -> str:
        """A misread: one digit of ``text`` replaced by another digit."""
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        i = rng.choice(digits)
        new = rng.choice([d for d in "0123456789" if d != text[i]])
        flipped = text[:i] + new + text[i + 1:]
        self.scan(flipped)
        return flipped

    def send_raw(self, data: bytes) -> None:
        if not self.plugged:
            return  # nobody hears a scanner without a cable
        self._out += data
        if self.on_output:
            self.on_output()

    def read_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def unplug(self) -> None:
        self.plugged = False
        self._out.clear()
        if self.on_plug:
            self.on_plug(False)

    def plug(self) -> None:
        self.plugged = True
        if self.on_plug:
            self.on_plug(True)


class ScannerPtyServer:
    """The simulator behind a real pty; the driver opens ``path`` (a stable symlink)."""

    def __init__(self, sim: ScannerSimulator, link: Path) -> None:
        self.sim = sim
        self.link = link
        self.port = PtyPort(link)  # a scanner only sends: nothing to read

    @property
    def pair(self) -> PtyPair | None:
        return self.port.pair

    @property
    def path(self) -> str:
        return str(self.link)

    async def start(self) -> "ScannerPtyServer":
        self.sim.on_output = self._flush
        self.sim.on_plug = self._on_plug
        if self.sim.plugged:
            self.port.open()
        return self

    def _flush(self) -> None:
        self.port.write(self.sim.read_output())  # unplugged: the bytes are gone

    def _on_plug(self, plugged: bool) -> None:
        if plugged:
            self.port.open()
        else:
            self.port.close()

    async def close(self) -> None:
        self.sim.on_output = None
        self.sim.on_plug = None
        self.port.close()


class SimulatedScanner:
    """In-process fake of ``Scanner``: the simulator's bytes go through the same pure decoder."""

    def __init__(self, sim: ScannerSimulator, fmt: BarcodeFormat, *, clock: Clock,
                 settings: ScannerSettings = ScannerSettings(), name: str = "sim-scanner") -> None:
        self.sim = sim
        self._name = name
        self._clock = clock
        self._decoder = ScanDecoder(fmt, settings)
        self._subs: Subscribers[ScanEvent] = Subscribers()
        self._status = ScannerStatus(name, False)
        self._closed = False

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
        if self._closed:
            raise ScannerClosed(f"{self._name}: 停止しています")
        self.sim.on_output = self._on_output
        self.sim.on_plug = self._on_plug
        self._status = ScannerStatus(self._name, self.sim.plugged, at=self._clock.now())
        if self.sim.plugged:
            self._subs.publish(ScannerConnected(self._clock.now()))

    def _on_output(self) -> None:
        for ev in self._decoder.feed(self.sim.read_output(), self._clock.now()):
            self._status = ScannerStatus(self._name, True, reads=self._status.reads + 1, last_event=ev.kind,
                                         at=ev.at)
            self._subs.publish(ev)

    def _on_plug(self, plugged: bool) -> None:
        now = self._clock.now()
        self._decoder.splitter.reset()
        self._status = ScannerStatus(self._name, plugged, reads=self._status.reads,
                                     last_event=self._status.last_event, at=now)
        self._subs.publish(ScannerConnected(now) if plugged else ScannerDisconnected(now, "unplugged"))

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.sim.on_output = None
            self.sim.on_plug = None
            self._status = ScannerStatus(self._name, False, reads=self._status.reads, at=self._clock.now())
