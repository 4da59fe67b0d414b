"""The LTE modem as the rest of meibo sees it: status, errors and the ``Modem`` protocol.

Owns: ``ModemStatus`` (what the kiosk and the sync agent show), the exception family (one base,
subclasses named for what the caller does next), and ``Subscribers``, the status fan-out used by
the real driver and the simulator alike. Pure: never imports serial, os or asyncio I/O.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Callable, Protocol

from ground.errors import MeiboError
from hardware.subscribers import Subscribers as Subscribers  # re-exported: devices use it from here


class ModemError(MeiboError):
    """Base of every modem error."""

    code = "modem_error"


class ModemNotResponding(ModemError):
    """No final result code within the timeout: power-cycle the modem or fail over."""

    code = "modem_not_responding"


class ModemPortUnavailable(ModemError):
    """The serial port cannot be opened or vanished: check the cable / wait for re-enumeration."""

    code = "modem_port_unavailable"


class SimMissing(ModemError):
    """No SIM (+CME ERROR: 10): insert the closed-APN SIM."""

    code = "sim_missing"


class SimPinRequired(ModemError):
    """The SIM asks for a PIN: the SIM was not provisioned for this terminal."""

    code = "sim_pin_required"


class ModemCommandFailed(ModemError):
    """The modem answered ERROR / +CME ERROR to a command."""

    code = "modem_command_failed"


class ModemClosed(ModemError):
    """The driver was closed; open a new one."""

    code = "modem_closed"


class Registration(str, Enum):
    """+CEREG <stat> (3GPP TS 27.007 §10.1.22)."""

    NOT_REGISTERED = "not_registered"  # 0
    HOME = "home"  # 1
    SEARCHING = "searching"  # 2
    DENIED = "denied"  # 3
    UNKNOWN = "unknown"  # 4
    ROAMING = "roaming"  # 5

    @classmethod
    def from_stat(cls, stat: int) -> "Registration":
        return _STAT.get(stat, cls.UNKNOWN)

    @property
    def registered(self) -> bool:
        return self in (Registration.HOME, Registration.ROAMING)


_STAT = {0: Registration.NOT_REGISTERED, 1: Registration.HOME, 2: Registration.SEARCHING,
         3: Registration.DENIED, 4: Registration.UNKNOWN, 5: Registration.ROAMING}


class ModemState(str, Enum):
    STARTING = "starting"
    READY = "ready"  # answered the start-up sequence; registration is separate
    SIM_MISSING = "sim_missing"
    SIM_PIN = "sim_pin"
    NOT_RESPONDING = "not_responding"
    PORT_UNAVAILABLE = "port_unavailable"
    CLOSED = "closed"


class ApnCheck(str, Enum):
    """Is the active APN the closed one of the election config? (特定通信 ④)"""

    OK = "ok"
    VIOLATION = "violation"  # an internet APN: the kiosk shows it, sync must not use it
    UNKNOWN = "unknown"  # not read yet, or the config names no closed APN


def apn_check(active: str | None, closed: str | None) -> ApnCheck:
    if active is None or not closed:
        return ApnCheck.UNKNOWN
    return ApnCheck.OK if active.strip().lower() == closed.strip().lower() else ApnCheck.VIOLATION


def rssi_to_bars(rssi: int | None) -> int:
    """+CSQ <rssi> 0..31 (−113..−51 dBm), 99 unknown → 0..4 bars.

    0–1 (≤ −111 dBm) no usable signal, 2–9 one bar, 10–14 two, 15–19 three, 20–31 four.
    """
    if rssi is None or rssi == 99 or rssi < 2 or rssi > 31:
        return 0
    if rssi < 10:
        return 1
    if rssi < 15:
        return 2
    if rssi < 20:
        return 3
    return 4


BARS_TO_RSSI = {0: 0, 1: 6, 2: 12, 3: 17, 4: 25}  # a representative rssi for each bar count


@dataclass(frozen=True)
class ModemStatus:
    """One modem's state as the kiosk shows it (電波, 登録, 事業者, APN, 閉域 APN)."""

    name: str
    state: ModemState
    registration: Registration = Registration.UNKNOWN
    carrier: str | None = None
    rssi: int | None = None
    apn: str | None = None
    closed_apn: str | None = None
    address: str | None = None
    error: str | None = None  # code of the last error, if any
    at: datetime | None = None

    @property
    def registered(self) -> bool:
        return self.state is ModemState.READY and self.registration.registered

    @property
    def bars(self) -> int:
        return rssi_to_bars(self.rssi) if self.state is ModemState.READY else 0

    @property
    def apn_check(self) -> ApnCheck:
        return apn_check(self.apn, self.closed_apn)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(state=self.state.value, registration=self.registration.value,
                 registered=self.registered, bars=self.bars, apn_check=self.apn_check.value,
                 at=self.at.isoformat() if self.at else None)
        return d

    def text_ja(self) -> str:
        if self.state is not ModemState.READY:
            what = {ModemState.STARTING: "起動中", ModemState.SIM_MISSING: "SIM がありません",
                    ModemState.SIM_PIN: "SIM の PIN が必要です", ModemState.NOT_RESPONDING: "応答がありません",
                    ModemState.PORT_UNAVAILABLE: "ポートを開けません", ModemState.CLOSED: "停止"}[self.state]
            return f"{self.name}: {what}"
        reg = {Registration.HOME: "登録済", Registration.ROAMING: "登録済（ローミング）"}.get(
            self.registration, "未登録")
        apn = {ApnCheck.OK: "閉域APN", ApnCheck.VIOLATION: "閉域APNではありません（特定通信④違反）",
               ApnCheck.UNKNOWN: "APN未確認"}[self.apn_check]
        return (f"{self.name}: {reg} 電波{'▮' * self.bars}{'▯' * (4 - self.bars)} "
                f"事業者 {self.carrier or '不明'} APN {self.apn or '不明'}（{apn}） アドレス {self.address or 'なし'}")


class Modem(Protocol):
    """What both the real driver and the simulator offer."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> ModemStatus: ...

    async def start(self, *, configure: bool = True) -> ModemStatus:
        """Run the start-up sequence; with ``configure`` set the closed APN (AT+CGDCONT)."""
        ...

    async def refresh(self) -> ModemStatus:
        """Re-read registration, operator, signal and address."""
        ...

    def add_listener(self, callback: Callable[[ModemStatus], None]) -> Callable[[], None]: ...

    def status_queue(self) -> "asyncio.Queue[ModemStatus]": ...

    async def close(self) -> None: ...
