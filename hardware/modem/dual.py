"""Two modems on two carriers: health checks, failover, failback with hysteresis, a switch log.

Owns: ``FailoverPolicy`` (pure: health observations and a time in, a ``SwitchRecord`` out; its
transitions are the table ``_TRANSITIONS``) and ``DualModem`` (async: refreshes both modems, asks
the injected path-to-HQ check, feeds the policy, keeps the log). The first modem is the preferred
one. Never imports serial or reads a clock of its own (the ``Clock`` is injected).

Failover: the active modem is down (not ready, not registered, on a non-closed APN, or its path
to HQ failed ``failover_after_failures`` checks in a row) and the other one is healthy.
Failback: on the backup, the preferred modem has been healthy without a break for
``failback_after_s`` (hysteresis: a flapping cell does not bounce the link back and forth).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Awaitable, Callable, Sequence

from ground.clock import Clock
from ground.errors import IllegalTransition
from hardware.modem.base import ApnCheck, Modem, ModemError, ModemStatus, Subscribers
from hardware.settings import DualModemSettings

HealthCheck = Callable[[str], Awaitable[bool]]  # modem name → can we reach HQ through it?


@dataclass(frozen=True)
class Health:
    """One observation of one modem. ``reason`` says why it is not usable (English code)."""

    usable: bool  # ready, registered, closed APN
    hq_ok: bool | None = None  # None: not checked (e.g. not registered)
    reason: str | None = None


@dataclass(frozen=True)
class SwitchRecord:
    """One change of the active modem (回線切替), for the kiosk and the election-day record."""

    at: datetime
    from_modem: str | None
    to_modem: str
    reason: str  # initial | registration_lost | hq_unreachable | not_responding | sim_missing | apn_violation | failback ...

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "from": self.from_modem, "to": self.to_modem, "reason": self.reason}


class Role(str, Enum):
    NONE = "none"
    PREFERRED = "preferred"
    BACKUP = "backup"


class Trigger(str, Enum):
    PREFERRED_UP = "preferred_up"
    ONLY_BACKUP_UP = "only_backup_up"
    ACTIVE_DOWN = "active_down"  # and the other one is healthy
    FAILBACK_DUE = "failback_due"


_TRANSITIONS: dict[tuple[Role, Trigger], Role] = {
    (Role.NONE, Trigger.PREFERRED_UP): Role.PREFERRED,
    (Role.NONE, Trigger.ONLY_BACKUP_UP): Role.BACKUP,
    (Role.PREFERRED, Trigger.ACTIVE_DOWN): Role.BACKUP,
    (Role.BACKUP, Trigger.ACTIVE_DOWN): Role.PREFERRED,
    (Role.BACKUP, Trigger.FAILBACK_DUE): Role.PREFERRED,
}


class FailoverPolicy:
    """Pure decision core. ``observe`` returns the switch it made, or None."""

    def __init__(self, preferred: str, backup: str, settings: DualModemSettings = DualModemSettings()) -> None:
        self.names = {Role.PREFERRED: preferred, Role.BACKUP: backup}
        self.settings = settings
        self.role = Role.NONE
        self._hq_failures = {Role.PREFERRED: 0, Role.BACKUP: 0}
        self._preferred_healthy_since: datetime | None = None

    @property
    def active(self) -> str | None:
        return self.names.get(self.role)

    def apply(self, trigger: Trigger) -> Role:
        """Move along the table; an illegal trigger raises and leaves the role unchanged."""
        nxt = _TRANSITIONS.get((self.role, trigger))
        if nxt is None:
            raise IllegalTransition(f"{trigger.value} is not allowed in {self.role.value}")
        self.role = nxt
        return nxt

    def _down_reason(self, role: Role, h: Health) -> str | None:
        if not h.usable:
            return h.reason or "not_usable"
        if self._hq_failures[role] >= self.settings.failover_after_failures:
            return "hq_unreachable"
        return None

    def _healthy(self, role: Role, h: Health) -> bool:
        return h.usable and self._hq_failures[role] == 0

    def observe(self, at: datetime, preferred: Health, backup: Health) -> SwitchRecord | None:
        health = {Role.PREFERRED: preferred, Role.BACKUP: backup}
        for role, h in health.items():
            if h.hq_ok is False:
                self._hq_failures[role] += 1
            elif h.hq_ok is True:
                self._hq_failures[role] = 0
            # not checked (not usable): the count stands until a check succeeds
        if self._healthy(Role.PREFERRED, preferred):
            if self._preferred_healthy_since is None:
                self._preferred_healthy_since = at
        else:
            self._preferred_healthy_since = None

        trigger: Trigger | None = None
        reason = ""
        if self.role is Role.NONE:
            if self._healthy(Role.PREFERRED, preferred):
                trigger, reason = Trigger.PREFERRED_UP, "initial"
            elif self._healthy(Role.BACKUP, backup):
                trigger = Trigger.ONLY_BACKUP_UP
                reason = f"initial:{self._down_reason(Role.PREFERRED, preferred) or 'preferred_unhealthy'}"
        else:
            other = Role.BACKUP if self.role is Role.PREFERRED else Role.PREFERRED
            down = self._down_reason(self.role, health[self.role])
            if down and self._healthy(other, health[other]):
                trigger, reason = Trigger.ACTIVE_DOWN, down
            elif (self.role is Role.BACKUP and self._preferred_healthy_since is not None
                  and (at - self._preferred_healthy_since).total_seconds() >= self.settings.failback_after_s):
                trigger, reason = Trigger.FAILBACK_DUE, "failback"
        if trigger is None:
            return None
        before = self.active
        self.apply(trigger)
        to = self.active
        assert to is not None
        return SwitchRecord(at, before, to, reason)


def health_of(status: ModemStatus) -> Health:
    """Whether a modem can carry sync traffic, from its status alone (HQ path not yet known)."""
    if status.error and not status.registered:
        return Health(False, None, status.error)
    if not status.registered:
        return Health(False, None, "registration_lost")
    if status.apn_check is ApnCheck.VIOLATION:
        return Health(False, None, "apn_violation")
    return Health(True)


class DualModem:
    """Two ``Modem``s, one active. Call ``check_once()`` (tests) or run ``run()`` as a task."""

    def __init__(self, modems: Sequence[Modem], health_check: HealthCheck, *, clock: Clock,
                 settings: DualModemSettings = DualModemSettings()) -> None:
        if len(modems) != 2:
            raise ValueError("DualModem needs exactly two modems")
        self.modems = list(modems)
        self._check = health_check
        self._clock = clock
        self._settings = settings
        self.policy = FailoverPolicy(modems[0].name, modems[1].name, settings)
        self.switches: list[SwitchRecord] = []
        self._subs: Subscribers[SwitchRecord] = Subscribers()
        self._wake = asyncio.Event()
        self._unsubscribe = [m.add_listener(self._on_status) for m in self.modems]

    @property
    def active(self) -> str | None:
        return self.policy.active

    def add_listener(self, callback: Callable[[SwitchRecord], None]) -> Callable[[], None]:
        return self._subs.add_listener(callback)

    def _on_status(self, status: ModemStatus) -> None:
        if status.name == self.active and not status.registered:
            self._wake.set()  # a +CEREG URC says the active modem dropped: check now, not later

    async def _observe(self, modem: Modem) -> Health:
        try:
            await modem.refresh()
        except ModemError as e:
            return Health(False, None, e.code)
        h = health_of(modem.status)
        if not h.usable:
            return h
        try:
            ok = await asyncio.wait_for(self._check(modem.name), self._settings.health_check_timeout_s)
        except asyncio.TimeoutError:
            ok = False
        except Exception:  # the injected check failing is a failed check, never a crash
            ok = False
        return Health(True, ok, None if ok else "hq_unreachable")

    async def check_once(self) -> SwitchRecord | None:
        pref, back = [await self._observe(m) for m in self.modems]
        rec = self.policy.observe(self._clock.now(), pref, back)
        if rec is not None:
            self.switches.append(rec)
            self._subs.publish(rec)
        return rec

    async def run(self) -> None:
        """Health-check forever (cancel the task to stop)."""
        while True:
            await self.check_once()
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.health_interval_s)

    def close(self) -> None:
        for u in self._unsubscribe:
            u()
