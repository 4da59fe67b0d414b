"""The 入場整理券 barcode scanner as the rest of meibo sees it: scan events, errors, ``Scanner``.

Owns: the typed scan events (a voter id, a misread, a double scan, another election's ticket,
connected / disconnected), the exception family, and ``Subscribers`` (event fan-out). Pure:
never imports serial, os or the store.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable, Protocol

from ground.errors import MeiboError
from ground.model import VoterId
from hardware.subscribers import Subscribers as Subscribers  # re-exported: devices use it from here


class ScannerError(MeiboError):
    """Base of every scanner error."""

    code = "scanner_error"


class ScannerPortUnavailable(ScannerError):
    """The port cannot be opened: the driver keeps retrying; check the USB cable."""

    code = "scanner_port_unavailable"


class ScannerClosed(ScannerError):
    code = "scanner_closed"


@dataclass(frozen=True)
class VoterScanned:
    """A good read: look the voter up."""

    voter_id: VoterId
    raw: str
    at: datetime
    kind: str = "voter"


@dataclass(frozen=True)
class Misread:
    """読み取り誤り: bad check digit or not a barcode at all. Ask to scan again; never looked up."""

    raw: str
    code: str  # barcode_check_digit | barcode_malformed | barcode_too_long
    message: str
    at: datetime
    kind: str = "misread"


@dataclass(frozen=True)
class OtherElection:
    """A well-formed ticket of another election or municipality (prefix differs)."""

    raw: str
    message: str
    at: datetime
    code: str = "barcode_other_election"
    kind: str = "other_election"


@dataclass(frozen=True)
class DoubleScan:
    """The same ticket again within the double-scan window: a scanner re-read, not a new voter."""

    voter_id: VoterId
    raw: str
    at: datetime
    first_at: datetime
    kind: str = "double_scan"


@dataclass(frozen=True)
class ScannerDisconnected:
    at: datetime
    reason: str = ""
    kind: str = "disconnected"


@dataclass(frozen=True)
class ScannerConnected:
    at: datetime
    kind: str = "connected"


ScanEvent = VoterScanned | Misread | OtherElection | DoubleScan | ScannerDisconnected | ScannerConnected


def event_dict(ev: ScanEvent) -> dict[str, Any]:
    d = asdict(ev)
    for k, v in d.items():
        if isinstance(v, datetime):
            d[k] = v.isoformat()
    return d


@dataclass(frozen=True)
class ScannerStatus:
    name: str
    connected: bool
    path: str | None = None
    reads: int = 0
    last_event: str | None = None  # kind of the last scan event
    at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["at"] = self.at.isoformat() if self.at else None
        return d

    def text_ja(self) -> str:
        return f"{self.name}: {'接続中' if self.connected else '未接続'}（読み取り {self.reads} 件）"


class Scanner(Protocol):
    """What both the real driver and the simulator offer."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> ScannerStatus: ...

    async def start(self) -> None:
        """Open the port (or start retrying); events flow until ``close()``."""
        ...

    def add_listener(self, callback: Callable[[ScanEvent], None]) -> Callable[[], None]: ...

    def event_queue(self) -> "asyncio.Queue[ScanEvent]": ...

    async def close(self) -> None: ...
