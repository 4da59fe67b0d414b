"""One contract for every ``Scanner``: the in-process simulator fake, and the real pyserial driver
reading the same simulator through a real pty pair (with unplug/replug of the pty)."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest

from ground.barcode import make_barcode
from ground.clock import FixedClock
from ground.model import BarcodeFormat
from hardware.scanner.base import (DoubleScan, Misread, OtherElection, ScanEvent, Scanner, ScannerConnected,
                                   ScannerDisconnected, VoterScanned)
from hardware.scanner.driver import SerialScanner
from hardware.scanner.simulator import ScannerPtyServer, ScannerSimulator, SimulatedScanner
from hardware.settings import ScannerSettings, Suffix

FMT = BarcodeFormat(prefix="1320")
OTHER = BarcodeFormat(prefix="1410")


class Rig:
    def __init__(self, sim: ScannerSimulator, scanner: Scanner, clock: FixedClock) -> None:
        self.sim, self.scanner, self.clock = sim, scanner, clock
        self.q: asyncio.Queue[ScanEvent] = scanner.event_queue()

    async def next(self, kind: type | None = None) -> ScanEvent:
        ev = await asyncio.wait_for(self.q.get(), 3.0)
        if kind is not None:
            assert isinstance(ev, kind), ev
        return ev


def _make(kind: str, suffix: Suffix, tmp_path: Path) -> Callable[[], AsyncIterator[Rig]]:
    async def gen() -> AsyncIterator[Rig]:
        clock = FixedClock(datetime(2027, 4, 25, 9, 0))
        settings = ScannerSettings(suffix=suffix, double_scan_window_s=3.0, reconnect_interval_s=0.05)
        sim = ScannerSimulator(suffix)
        server = None
        scanner: Scanner
        if kind == "simulator":
            scanner = SimulatedScanner(sim, FMT, clock=clock, settings=settings)
        else:
            server = await ScannerPtyServer(sim, tmp_path / "by-id" / "scanner").start()
            scanner = SerialScanner(server.path, FMT, settings=settings, clock=clock)
        rig = Rig(sim, scanner, clock)
        await scanner.start()
        await rig.next(ScannerConnected)
        try:
            yield rig
        finally:
            await scanner.close()
            if server is not None:
                await server.close()
    return gen


@pytest.fixture(params=["simulator", "serial_over_pty"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    async for r in _make(request.param, Suffix.CR, tmp_path)():
        yield r


async def test_good_scan_gives_the_voter_id(rig: Rig) -> None:
    code = rig.sim.scan_voter("00012345", FMT)
    ev = await rig.next(VoterScanned)
    assert isinstance(ev, VoterScanned) and (ev.voter_id, ev.raw) == ("00012345", code)
    assert rig.scanner.status.connected and rig.scanner.status.reads == 1


async def test_flipped_digit_is_a_check_digit_misread(rig: Rig) -> None:
    rig.sim.scan_flipped(make_barcode("00012345", FMT), random.Random(4))
    ev = await rig.next(Misread)
    assert isinstance(ev, Misread) and ev.code == "barcode_check_digit"


async def test_garbage_bytes_are_a_malformed_misread(rig: Rig) -> None:
    rig.sim.scan_garbage(random.Random(7))
    ev = await rig.next(Misread)
    assert isinstance(ev, Misread) and ev.code == "barcode_malformed"


async def test_other_election_ticket_is_reported_as_such(rig: Rig) -> None:
    rig.sim.scan(make_barcode("00012345", OTHER))
    ev = await rig.next(OtherElection)
    assert isinstance(ev, OtherElection) and ev.code == "barcode_other_election"


async def test_double_scan_within_window_then_fresh_after(rig: Rig) -> None:
    rig.sim.scan_voter("00000077", FMT)
    first = await rig.next(VoterScanned)
    rig.clock.set(rig.clock.now() + timedelta(seconds=2))
    rig.sim.scan_voter("00000077", FMT)
    ev = await rig.next(DoubleScan)
    assert isinstance(ev, DoubleScan) and ev.first_at == first.at and ev.voter_id == "00000077"
    rig.clock.set(rig.clock.now() + timedelta(seconds=3.5))
    rig.sim.scan_voter("00000077", FMT)
    await rig.next(VoterScanned)


async def test_unplug_reports_disconnected_and_replug_reconnects(rig: Rig) -> None:
    rig.sim.unplug()
    await rig.next(ScannerDisconnected)
    assert not rig.scanner.status.connected
    rig.sim.plug()
    await rig.next(ScannerConnected)
    rig.sim.scan_voter("00000001", FMT)
    ev = await rig.next(VoterScanned)
    assert isinstance(ev, VoterScanned) and ev.voter_id == "00000001"


@pytest.mark.parametrize("suffix", [Suffix.LF, Suffix.CRLF, Suffix.TAB])
@pytest.mark.parametrize("kind", ["simulator", "serial_over_pty"])
async def test_every_suffix(kind: str, suffix: Suffix, tmp_path: Path) -> None:
    async for r in _make(kind, suffix, tmp_path)():
        r.sim.scan_voter("00000002", FMT)
        r.sim.scan_voter("00000003", FMT)
        got = [await r.next(VoterScanned), await r.next(VoterScanned)]
        assert [e.voter_id for e in got if isinstance(e, VoterScanned)] == ["00000002", "00000003"]
