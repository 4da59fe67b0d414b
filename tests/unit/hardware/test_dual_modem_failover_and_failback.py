"""Dual-carrier modems: failover on registration loss or lost path to HQ, failback with hysteresis."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ground.errors import IllegalTransition
from ground.clock import FixedClock
from hardware.modem.dual import DualModem, FailoverPolicy, Health, Role, SwitchRecord, Trigger
from hardware.modem.simulator import ModemSimulator, SimulatedModem
from hardware.settings import DualModemSettings

T0 = datetime(2027, 4, 25, 8, 30)
SET = DualModemSettings(failover_after_failures=2, failback_after_s=60, health_check_timeout_s=0.2)


class Rig:
    def __init__(self) -> None:
        self.clock = FixedClock(T0)
        self.sims = [ModemSimulator(carrier="A"), ModemSimulator(carrier="B")]
        self.modems = [SimulatedModem(s, name=n, closed_apn="closed.lg.jp", clock=self.clock)
                       for s, n in zip(self.sims, ["lte1", "lte2"])]
        self.hq = {"lte1": True, "lte2": True}

        async def check(name: str) -> bool:
            return self.hq[name]

        self.dual = DualModem(self.modems, check, clock=self.clock, settings=SET)

    async def start(self) -> None:
        for m in self.modems:
            await m.start()

    def tick(self, seconds: float) -> None:
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))


async def test_starts_on_preferred_and_fails_over_on_registration_loss() -> None:
    r = Rig()
    await r.start()
    assert await r.dual.check_once() == SwitchRecord(r.clock.now(), None, "lte1", "initial")
    r.sims[0].deregister()
    r.tick(5)
    rec = await r.dual.check_once()
    assert rec is not None and (rec.from_modem, rec.to_modem, rec.reason) == ("lte1", "lte2", "registration_lost")
    assert r.dual.active == "lte2" and len(r.dual.switches) == 2


async def test_hq_path_lost_needs_consecutive_failures() -> None:
    r = Rig()
    await r.start()
    await r.dual.check_once()
    r.hq["lte1"] = False
    assert await r.dual.check_once() is None  # one failure is not enough
    rec = await r.dual.check_once()
    assert rec is not None and rec.reason == "hq_unreachable" and r.dual.active == "lte2"


async def test_no_failover_when_the_other_is_down_too() -> None:
    r = Rig()
    await r.start()
    await r.dual.check_once()
    r.sims[1].remove_sim()
    r.sims[0].deregister()
    assert await r.dual.check_once() is None
    assert r.dual.active == "lte1"


async def test_failback_waits_for_hysteresis_and_resets_on_flap() -> None:
    r = Rig()
    await r.start()
    await r.dual.check_once()
    r.sims[0].deregister()
    await r.dual.check_once()
    assert r.dual.active == "lte2"
    r.sims[0].register()
    await r.dual.check_once()  # healthy since now
    r.tick(40)
    assert await r.dual.check_once() is None
    r.sims[0].deregister()  # flap: the clock of good health starts again
    await r.dual.check_once()
    r.sims[0].register()
    r.tick(1)
    await r.dual.check_once()
    r.tick(59)
    assert await r.dual.check_once() is None
    r.tick(1)
    rec = await r.dual.check_once()
    assert rec is not None and (rec.to_modem, rec.reason) == ("lte1", "failback")
    assert [s.reason for s in r.dual.switches] == ["initial", "registration_lost", "failback"]


async def test_apn_violation_and_hung_modem_are_reasons() -> None:
    r = Rig()
    await r.start()
    await r.dual.check_once()
    r.sims[0].force_apn("internet")
    rec = await r.dual.check_once()
    assert rec is not None and rec.reason == "apn_violation"
    r.sims[0].force_apn(None)
    r.sims[1].hang()
    rec = await r.dual.check_once()
    assert rec is not None and (rec.to_modem, rec.reason) == ("lte1", "modem_not_responding")
    r.dual.close()


async def test_failing_health_check_callable_counts_as_failure() -> None:
    r = Rig()
    await r.start()

    async def broken(name: str) -> bool:
        raise OSError("no route")

    dual = DualModem(r.modems, broken, clock=r.clock, settings=SET)
    assert await dual.check_once() is None and dual.active is None


def test_illegal_transition_raises_and_keeps_role() -> None:
    p = FailoverPolicy("a", "b", SET)
    with pytest.raises(IllegalTransition):
        p.apply(Trigger.FAILBACK_DUE)
    assert p.role is Role.NONE
    rec = p.observe(T0, Health(False, None, "sim_missing"), Health(True, True))
    assert rec is not None and rec.reason == "initial:sim_missing" and p.active == "b"
