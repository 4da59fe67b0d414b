"""TerminalHardware (what `meibo terminal run` wires in): scans flow out, a dropped carrier fails over
at once (the +CEREG URC wakes the health check), and close() leaves no task behind."""

from __future__ import annotations

import asyncio
from datetime import datetime

from ground.clock import FixedClock
from ground.model import BarcodeFormat
from hardware.rig import HardwareSnapshot, TerminalHardware
from hardware.modem.simulator import ModemSimulator, SimulatedModem
from hardware.scanner.base import VoterScanned
from hardware.scanner.simulator import ScannerSimulator, SimulatedScanner
from hardware.settings import DualModemSettings, ModemSettings

FMT = BarcodeFormat(prefix="13")


async def _until(q: "asyncio.Queue[HardwareSnapshot]", pred: object) -> HardwareSnapshot:
    async def loop() -> HardwareSnapshot:
        while True:
            s = await q.get()
            if pred(s):  # type: ignore[operator]
                return s
    return await asyncio.wait_for(loop(), 3.0)


async def test_scans_status_and_failover() -> None:
    clock = FixedClock(datetime(2027, 4, 25, 7, 0))
    sims = [ModemSimulator(carrier="A"), ModemSimulator(carrier="B")]
    modems = [SimulatedModem(s, name=f"lte{i + 1}", closed_apn="closed", clock=clock) for i, s in enumerate(sims)]
    ssim = ScannerSimulator()
    hw = TerminalHardware(modems, SimulatedScanner(ssim, FMT, clock=clock), clock=clock,
                          modem_settings=ModemSettings(poll_interval_s=0.01, reopen_interval_s=0.01),
                          dual_settings=DualModemSettings(health_interval_s=30))
    statuses = hw.status_queue()
    scans = hw.scan_queue()
    before = set(asyncio.all_tasks())
    async with hw:
        snap = await _until(statuses, lambda s: s.active_modem == "lte1")
        assert snap.online_capable and snap.scanner is not None and snap.scanner.connected
        ssim.scan_voter("4711", FMT)
        ev = await asyncio.wait_for(scans.get(), 2)
        while not isinstance(ev, VoterScanned):
            ev = await asyncio.wait_for(scans.get(), 2)
        assert ev.voter_id == "4711"
        sims[0].deregister()
        snap = await _until(statuses, lambda s: s.active_modem == "lte2")
        assert snap.switches[-1].reason == "registration_lost"
        assert "lte2" in snap.text_ja()
    assert set(asyncio.all_tasks()) == before
    assert all(m.status.state.value == "closed" for m in modems)
