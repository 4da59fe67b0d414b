"""One contract for every ``Modem``: the in-process simulator fake, and the real pyserial driver
talking to the same simulator over a real pty pair. Same domain action → same observable result."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import AsyncIterator, Callable

import pytest

from ground.clock import FixedClock
from hardware.modem.base import (ApnCheck, Modem, ModemClosed, ModemNotResponding, ModemState, ModemStatus,
                                 Registration, SimMissing, SimPinRequired)
from hardware.modem.driver import SerialModem
from hardware.modem.simulator import ModemPtyServer, ModemSimulator, SimulatedModem
from hardware.settings import ModemSettings

CLOSED = "meibo.closed.lg.jp"
FAST = ModemSettings(command_timeout_s=0.3, operator_timeout_s=0.3, startup_attempts=1)
CLOCK = FixedClock(datetime(2027, 4, 25, 8, 30))

Rig = tuple[ModemSimulator, Callable[[], Modem]]


@pytest.fixture(params=["simulator", "serial_over_pty"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    sim = ModemSimulator(carrier="CARRIER-A")
    made: list[Modem] = []
    server: ModemPtyServer | None = None
    if request.param == "serial_over_pty":
        server = await ModemPtyServer(sim).start()

    def make() -> Modem:
        m: Modem
        if server is None:
            m = SimulatedModem(sim, name="m1", closed_apn=CLOSED, clock=CLOCK)
        else:
            m = SerialModem(server.path, name="m1", closed_apn=CLOSED, settings=FAST, clock=CLOCK)
        made.append(m)
        return m

    yield sim, make
    for m in made:
        await m.close()
    if server is not None:
        await server.close()


async def _next(q: "asyncio.Queue[ModemStatus]", pred: Callable[[ModemStatus], bool]) -> ModemStatus:
    async def loop() -> ModemStatus:
        while True:
            s = await q.get()
            if pred(s):
                return s
    return await asyncio.wait_for(loop(), 2.0)


async def test_healthy_start_reports_closed_apn_and_signal(rig: Rig) -> None:
    sim, make = rig
    m = make()
    s = await m.start()
    assert s.state is ModemState.READY and s.registered and s.registration is Registration.HOME
    assert (s.carrier, s.bars, s.apn, s.apn_check) == ("CARRIER-A", 4, CLOSED, ApnCheck.OK)
    assert s.address == "10.64.0.2"
    assert m.status == s


async def test_wrong_apn_is_a_violation(rig: Rig) -> None:
    sim, make = rig
    sim.force_apn("internet.example")
    s = await make().start()
    assert s.apn == "internet.example" and s.apn_check is ApnCheck.VIOLATION


async def test_deregistration_urc_updates_status_without_a_refresh(rig: Rig) -> None:
    sim, make = rig
    m = make()
    await m.start()
    q = m.status_queue()
    sim.deregister()
    s = await _next(q, lambda s: not s.registered)
    assert s.registration is Registration.NOT_REGISTERED and s.state is ModemState.READY
    sim.register(roaming=True)
    s = await _next(q, lambda s: s.registered)
    assert s.registration is Registration.ROAMING


async def test_urc_inside_the_next_response_is_applied(rig: Rig) -> None:
    sim, make = rig
    m = make()
    await m.start()
    sim.deregister(mid_response=True)
    s = await m.refresh()
    assert not s.registered and s.bars == 0 and s.carrier is None


async def test_signal_change_shows_in_bars(rig: Rig) -> None:
    sim, make = rig
    m = make()
    await m.start()
    for bars in (2, 0, 3):
        sim.set_signal_bars(bars)
        assert (await m.refresh()).bars == bars


async def test_sim_missing_at_start_and_while_running(rig: Rig) -> None:
    sim, make = rig
    m = make()
    await m.start()
    sim.remove_sim()
    with pytest.raises(SimMissing):
        await m.refresh()
    assert m.status.state is ModemState.SIM_MISSING and not m.status.registered
    sim.insert_sim()
    assert (await m.refresh()).registered
    await m.close()  # the port is opened exclusively: one driver at a time
    sim.remove_sim()
    m2 = make()
    with pytest.raises(SimMissing):
        await m2.start()
    assert m2.status.state is ModemState.SIM_MISSING


async def test_sim_pin_required(rig: Rig) -> None:
    sim, make = rig
    sim.require_pin()
    m = make()
    with pytest.raises(SimPinRequired):
        await m.start()
    assert m.status.state is ModemState.SIM_PIN


async def test_hung_modem_times_out_cleanly_and_recovers(rig: Rig) -> None:
    sim, make = rig
    m = make()
    await m.start()
    sim.hang()
    with pytest.raises(ModemNotResponding):
        await m.refresh()
    assert m.status.state is ModemState.NOT_RESPONDING and m.status.bars == 0
    sim.recover()
    assert (await m.refresh()).state is ModemState.READY


async def test_closed_modem_refuses(rig: Rig) -> None:
    sim, make = rig
    m = make()
    await m.start()
    await m.close()
    assert m.status.state is ModemState.CLOSED
    with pytest.raises(ModemClosed):
        await m.refresh()
