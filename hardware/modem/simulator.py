"""A simulated LTE modem: a pure domain object that answers AT commands, plus its pty front end.

Owns: the modem's pretend state (SIM, registration, signal, APN, hung or not) and the bytes it
would send. ``ModemSimulator`` is pure (bytes in → bytes out, domain actions such as
``deregister()``, ``set_signal_bars()``, ``remove_sim()``, ``hang()``, ``force_apn()``);
``ModemPtyServer`` puts it behind a real pty so that the real driver can talk to it with pyserial;
``SimulatedModem`` is the in-process fake of the ``Modem`` protocol for unit tests and the kiosk.
The contract suite (tests/contracts/) holds the fake and the real driver to the same behaviour.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Callable

from ground.clock import Clock
from hardware.modem.base import (BARS_TO_RSSI, ModemClosed, ModemNotResponding, ModemState, ModemStatus,
                                 Registration, SimMissing, SimPinRequired, Subscribers, apn_check)
from hardware.pty_pair import PtyPair
from hardware.serial_port import PtyPort

_STAT = {Registration.NOT_REGISTERED: 0, Registration.HOME: 1, Registration.SEARCHING: 2,
         Registration.DENIED: 3, Registration.UNKNOWN: 4, Registration.ROAMING: 5}


@dataclass
class SimModemState:
    carrier: str = "SIM-CARRIER-A"
    sim: str = "READY"  # READY | SIM PIN | MISSING
    registration: Registration = Registration.HOME
    rssi: int = 25
    apn: str = ""  # what AT+CGDCONT=1 set
    forced_apn: str | None = None  # a modem/SIM profile that ignores our APN (wrong APN)
    address: str = "10.64.0.2"
    echo: bool = True
    hung: bool = False
    cereg_n: int = 0


class ModemSimulator:
    """Answers AT commands like a Cat-1 LTE module. Pure: ``receive(bytes)`` queues output bytes.

    ``on_output`` (if set) is called whenever output is queued, so a front end can flush it.
    ``on_change`` is called after every domain action (the in-process fake listens to it).
    """

    def __init__(self, carrier: str = "SIM-CARRIER-A", address: str = "10.64.0.2") -> None:
        self.state = SimModemState(carrier=carrier, address=address)
        self._inbuf = bytearray()
        self._out = bytearray()
        self._urc_mid_response: list[bytes] = []
        self.on_output: Callable[[], None] | None = None
        self.on_change: Callable[[], None] | None = None
        self.commands: list[str] = []  # every command received, for tests

    # --- domain actions ------------------------------------------------------------------
    def set_signal_bars(self, bars: int) -> None:
        self.set_rssi(BARS_TO_RSSI[max(0, min(4, bars))])

    def set_rssi(self, rssi: int) -> None:
        self.state.rssi = rssi
        self._changed()

    def deregister(self, *, mid_response: bool = False) -> None:
        """Lose the network (stat 0); the +CEREG URC goes out now, or inside the next response."""
        self._set_registration(Registration.NOT_REGISTERED, mid_response)

    def register(self, roaming: bool = False, *, mid_response: bool = False) -> None:
        self._set_registration(Registration.ROAMING if roaming else Registration.HOME, mid_response)

    def set_registration(self, reg: Registration, *, mid_response: bool = False) -> None:
        self._set_registration(reg, mid_response)

    def remove_sim(self) -> None:
        self.state.sim = "MISSING"
        self._set_registration(Registration.NOT_REGISTERED, False)

    def require_pin(self) -> None:
        self.state.sim = "SIM PIN"
        self._changed()

    def insert_sim(self) -> None:
        self.state.sim = "READY"
        self._set_registration(Registration.HOME, False)

    def hang(self) -> None:
        """Stop answering anything (firmware lock-up)."""
        self.state.hung = True
        self._changed()

    def recover(self) -> None:
        self.state.hung = False
        self._changed()

    def force_apn(self, apn: str | None) -> None:
        """The SIM profile overrides our APN (e.g. an internet APN): a 特定通信 ④ violation."""
        self.state.forced_apn = apn
        self._changed()

    @property
    def active_apn(self) -> str:
        return self.state.forced_apn if self.state.forced_apn is not None else self.state.apn

    # --- bytes ---------------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        if self.state.hung:
            return
        for b in data:
            if b in (0x0D, 0x0A):
                if self._inbuf:
                    cmd = self._inbuf.decode("ascii", errors="replace").strip()
                    self._inbuf.clear()
                    if cmd:
                        self._command(cmd)
            else:
                self._inbuf.append(b)

    def read_output(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    # --- internals -----------------------------------------------------------------------
    def _changed(self) -> None:
        if self.on_change:
            self.on_change()

    def _emit(self, data: bytes) -> None:
        self._out += data
        if self.on_output:
            self.on_output()

    def _set_registration(self, reg: Registration, mid_response: bool) -> None:
        self.state.registration = reg
        if self.state.cereg_n >= 1 and not self.state.hung:
            urc = f"\r\n+CEREG: {_STAT[reg]}\r\n".encode()
            if mid_response:
                self._urc_mid_response.append(urc)
            else:
                self._emit(urc)
        self._changed()

    def _command(self, cmd: str) -> None:
        self.commands.append(cmd)
        s = self.state
        out = []
        if s.echo:
            out.append(cmd.encode() + b"\r")
        info, final = self._answer(cmd.upper(), cmd)
        # A URC queued "mid response" goes between the information lines and the final code,
        # which is where real modems interleave them.
        body = b"".join(f"\r\n{line}\r\n".encode() for line in info)
        for urc in self._urc_mid_response:
            body += urc
        self._urc_mid_response.clear()
        self._emit(b"".join(out) + body + f"\r\n{final}\r\n".encode())

    def _answer(self, up: str, raw: str) -> tuple[list[str], str]:
        s = self.state
        sim_ok = s.sim == "READY"
        sim_err = "+CME ERROR: 10" if s.sim == "MISSING" else "+CME ERROR: 11"
        if up == "AT":
            return [], "OK"
        if up in ("ATE0", "ATE1"):
            s.echo = up == "ATE1"
            return [], "OK"
        if up == "AT+CPIN?":
            if s.sim == "MISSING":
                return [], "+CME ERROR: 10"
            return [f"+CPIN: {s.sim}"], "OK"
        if up.startswith("AT+CGDCONT="):
            m = re.match(r'^AT\+CGDCONT=1,"IP","([^"]*)"$', raw, re.IGNORECASE)
            if not m:
                return [], "ERROR"
            s.apn = m.group(1)
            return [], "OK"
        if up == "AT+CGDCONT?":
            return ([f'+CGDCONT: 1,"IP","{self.active_apn}","0.0.0.0",0,0'] if self.active_apn else []), "OK"
        if up.startswith("AT+CEREG="):
            arg = up.split("=", 1)[1]
            if arg not in ("0", "1", "2"):
                return [], "ERROR"
            s.cereg_n = int(arg)
            return [], "OK"
        if up == "AT+CEREG?":
            return [f"+CEREG: {s.cereg_n},{_STAT[s.registration]}"], "OK"
        if not sim_ok and up in ("AT+COPS?", "AT+CGPADDR", "AT+CGPADDR=1"):
            return [], sim_err
        if up == "AT+COPS?":
            if s.registration.registered:
                return [f'+COPS: 0,0,"{s.carrier}",7'], "OK"
            return ["+COPS: 0"], "OK"
        if up == "AT+CSQ":
            rssi = s.rssi if sim_ok and s.registration is not Registration.NOT_REGISTERED else 99
            return [f"+CSQ: {rssi},99"], "OK"
        if up in ("AT+CGPADDR", "AT+CGPADDR=1"):
            addr = s.address if s.registration.registered else "0.0.0.0"
            return [f'+CGPADDR: 1,"{addr}"'], "OK"
        return [], "ERROR"


class ModemPtyServer:
    """The simulator behind a real pty: the driver opens ``path`` with pyserial."""

    def __init__(self, sim: ModemSimulator, link: Path | None = None) -> None:
        self.sim = sim
        self.port = PtyPort(link, on_data=sim.receive)

    @property
    def pair(self) -> PtyPair | None:
        return self.port.pair

    @property
    def path(self) -> str:
        assert self.port.pair is not None, "start() first"
        return self.port.path

    async def start(self) -> "ModemPtyServer":
        self.port.open()
        self.sim.on_output = self._flush
        return self

    def _flush(self) -> None:
        if self.port.is_open:  # while closed, the simulator keeps its output
            self.port.write(self.sim.read_output())

    async def close(self) -> None:
        self.sim.on_output = None
        self.port.close()


class SimulatedModem:
    """The in-process fake of the ``Modem`` protocol, reading the simulator's state directly."""

    def __init__(self, sim: ModemSimulator, *, name: str = "sim-modem", closed_apn: str | None = None,
                 clock: Clock | None = None) -> None:
        self.sim = sim
        self._name = name
        self._closed_apn = closed_apn
        self._clock = clock
        self._subs: Subscribers[ModemStatus] = Subscribers()
        self._status = ModemStatus(name, ModemState.STARTING, closed_apn=closed_apn)
        self._started = False
        self._closed = False
        sim.on_change = self._on_change

    @property
    def name(self) -> str:
        return self._name

    @property
    def status(self) -> ModemStatus:
        return self._status

    def add_listener(self, callback: Callable[[ModemStatus], None]) -> Callable[[], None]:
        return self._subs.add_listener(callback)

    def status_queue(self) -> "asyncio.Queue[ModemStatus]":
        return self._subs.queue()

    async def start(self, *, configure: bool = True) -> ModemStatus:
        self._check_open()
        if self.sim.state.hung:
            self._set(replace(self._status, state=ModemState.NOT_RESPONDING, error=ModemNotResponding.code))
            raise ModemNotResponding(f"{self._name}: モデムが応答しません", code=ModemNotResponding.code)
        self.sim.state.echo = False
        self.sim.state.cereg_n = 1
        self._sim_checks()
        if configure and self._closed_apn:
            self.sim.state.apn = self._closed_apn
        self._started = True
        return await self.refresh()

    def _sim_checks(self) -> None:
        if self.sim.state.sim == "MISSING":
            self._set(ModemStatus(self._name, ModemState.SIM_MISSING, closed_apn=self._closed_apn,
                                  error=SimMissing.code, at=self._now()))
            raise SimMissing(f"{self._name}: SIM が挿入されていません")
        if self.sim.state.sim != "READY":
            self._set(ModemStatus(self._name, ModemState.SIM_PIN, closed_apn=self._closed_apn,
                                  error=SimPinRequired.code, at=self._now()))
            raise SimPinRequired(f"{self._name}: SIM の PIN が必要です")

    async def refresh(self) -> ModemStatus:
        self._check_open()
        if self.sim.state.hung:
            self._set(replace(self._status, state=ModemState.NOT_RESPONDING, error=ModemNotResponding.code,
                              at=self._now()))
            raise ModemNotResponding(f"{self._name}: モデムが応答しません")
        self._sim_checks()
        self._set(self._snapshot())
        return self._status

    def _snapshot(self) -> ModemStatus:
        s = self.sim.state
        reg = s.registration
        return ModemStatus(
            self._name, ModemState.READY, registration=reg,
            carrier=s.carrier if reg.registered else None,
            rssi=s.rssi if reg is not Registration.NOT_REGISTERED else None,
            apn=self.sim.active_apn or None, closed_apn=self._closed_apn,
            address=s.address if reg.registered else None, at=self._now())

    def _on_change(self) -> None:
        # Mirrors the real driver: only a +CEREG URC moves the status between refreshes.
        if not self._started or self._closed or self._status.state is not ModemState.READY:
            return
        if self.sim.state.hung:
            return
        reg = self.sim.state.registration
        if reg != self._status.registration:
            self._set(replace(self._status, registration=reg, at=self._now()))

    def _set(self, status: ModemStatus) -> None:
        if status != self._status:
            self._status = status
            self._subs.publish(status)

    def _now(self) -> datetime | None:
        return self._clock.now() if self._clock else None

    def _check_open(self) -> None:
        if self._closed:
            raise ModemClosed(f"{self._name}: 停止しています")

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.sim.on_change = None
            self._set(replace(self._status, state=ModemState.CLOSED))


__all__ = ["ModemSimulator", "ModemPtyServer", "SimulatedModem", "apn_check"]
