"""AT command responses (3GPP TS 27.007 / V.250) from byte chunks split anywhere. Pure, sans-I/O.

Owns: framing lines, telling a command's response from unsolicited result codes (URCs) even when a
URC lands in the middle of a response, and reading the few information lines meibo needs.
Never imports serial, os, asyncio or a clock: the driver feeds bytes in and acts on events out.

Rules of the framing:
- a line ends at CR or LF; blank lines (the CR LF around every V.250 response) are skipped;
- an echoed command (before ``ATE0`` took effect) equals the pending command and is skipped;
- ``OK``, ``ERROR`` and ``+CME ERROR: n`` end the pending command's response;
- ``+CEREG:`` and friends are URCs unless the pending command asks for them; even then the
  one-field URC form (``+CEREG: 1``) is told apart from the two-field answer (``+CEREG: 0,1``);
- a line longer than ``max_line_bytes`` is dropped with one ``LineTooLong`` event;
- after ``abandon()`` (the driver timed out) a late ``OK`` is reported as ``Stray``. V.250 has no
  command tags, so a late answer that arrives *after* the next command was sent cannot be told
  apart; the driver therefore flushes the port's input before the first command after a timeout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardware.modem.base import Registration

URC_PREFIXES = ("+CEREG:", "+CREG:", "+CGREG:", "+CGEV:", "+CIEV:")
URC_WORDS = ("RING", "NO CARRIER")

# Verbose +CME ERROR texts that some modems send instead of numbers (AT+CMEE=2).
CME_TEXT = {"sim not inserted": 10, "sim pin required": 11, "sim puk required": 12,
            "sim failure": 13, "sim busy": 14, "sim wrong": 15, "incorrect password": 16,
            "no network service": 30, "network timeout": 31}


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Error:
    pass


@dataclass(frozen=True)
class CmeError:
    code: int | None
    text: str = ""


Result = Ok | Error | CmeError


@dataclass(frozen=True)
class Response:
    """A command's information lines and its final result code."""

    command: str
    lines: tuple[str, ...]
    result: Result

    @property
    def ok(self) -> bool:
        return isinstance(self.result, Ok)


@dataclass(frozen=True)
class Urc:
    """An unsolicited result code; ``registration`` is set for +CEREG/+CREG/+CGREG."""

    line: str
    registration: Registration | None = None


@dataclass(frozen=True)
class Stray:
    """A line nobody asked for (a late answer after a timeout, or noise)."""

    line: str


@dataclass(frozen=True)
class LineTooLong:
    length: int


Event = Response | Urc | Stray | LineTooLong


def _fields(line: str) -> list[str]:
    _, _, rest = line.partition(":")
    return [f.strip() for f in rest.split(",")] if rest.strip() else []


def _final(line: str) -> Result | None:
    if line == "OK":
        return Ok()
    if line == "ERROR":
        return Error()
    if line.startswith("+CME ERROR:"):
        rest = line[len("+CME ERROR:"):].strip()
        if rest.isdigit():
            return CmeError(int(rest), rest)
        return CmeError(CME_TEXT.get(rest.lower()), rest)
    return None


def _registration_urc(line: str) -> Registration | None:
    """+CEREG: <stat>[,<tac>,<ci>,<AcT>] (URC form: the first field is the stat)."""
    f = _fields(line)
    if f and f[0].isdigit():
        return Registration.from_stat(int(f[0]))
    return None


def _command_prefix(command: str) -> str | None:
    """``AT+CEREG?`` → ``+CEREG:``; ``AT`` / ``ATE0`` → None."""
    m = re.match(r"^AT(\+[A-Z0-9]+)", command.upper())
    return m.group(1) + ":" if m else None


class AtParser:
    """Feed bytes, get events. Holds at most one pending command (AT is strictly half-duplex)."""

    def __init__(self, max_line_bytes: int = 1024) -> None:
        self._max = max_line_bytes
        self._buf = bytearray()
        self._discarding = False  # inside an over-long line, until its terminator
        self._pending: str | None = None
        self._lines: list[str] = []

    @property
    def pending(self) -> str | None:
        return self._pending

    def send(self, command: str) -> bytes:
        """Register ``command`` as pending and return the bytes to write."""
        if self._pending is not None:
            raise RuntimeError(f"AT command {self._pending!r} still pending")
        self._pending = command
        self._lines = []
        return command.encode("ascii") + b"\r"

    def abandon(self) -> None:
        """Forget the pending command (the driver gave up waiting)."""
        self._pending = None
        self._lines = []
        self._buf.clear()

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for b in data:
            if b in (0x0D, 0x0A):
                if self._discarding:
                    self._discarding = False
                    self._buf.clear()
                    continue
                raw = bytes(self._buf)
                self._buf.clear()
                self._line(raw, events)
            elif self._discarding:
                continue
            else:
                self._buf.append(b)
                if len(self._buf) > self._max:
                    events.append(LineTooLong(len(self._buf)))
                    self._buf.clear()
                    self._discarding = True
        return events

    def _line(self, raw: bytes, events: list[Event]) -> None:
        line = raw.decode("ascii", errors="replace").strip()
        if not line:
            return
        pending = self._pending
        if pending is None:
            events.append(self._unsolicited(line))
            return
        if line.upper() == pending.upper():
            return  # echo (ATE1), before or despite ATE0
        final = _final(line)
        if final is not None:
            events.append(Response(pending, tuple(self._lines), final))
            self._pending = None
            self._lines = []
            return
        if self._is_urc(line, pending):
            events.append(self._unsolicited(line))
            return
        self._lines.append(line)

    @staticmethod
    def _is_urc(line: str, pending: str) -> bool:
        upper = line.upper()
        if upper in URC_WORDS:
            return True
        prefix = next((p for p in URC_PREFIXES if upper.startswith(p)), None)
        if prefix is None:
            return False
        if _command_prefix(pending) != prefix:
            return True
        # The pending command asks for this very prefix: the read answer always has <n> first
        # and then <stat> (two fields at least); the URC form has <stat> first and, for n=1,
        # only that one field. n=2 URCs (<stat>,"tac","ci") are told apart by the quoted 2nd field.
        f = _fields(line)
        if len(f) < 2:
            return True
        return f[1].startswith('"')

    @staticmethod
    def _unsolicited(line: str) -> Urc | Stray:
        upper = line.upper()
        if upper.startswith(("+CEREG:", "+CREG:", "+CGREG:")):
            return Urc(line, _registration_urc(line))
        if upper in URC_WORDS or upper.startswith(URC_PREFIXES):
            return Urc(line)
        return Stray(line)


# --- reading information lines --------------------------------------------------------------

def parse_cpin(lines: tuple[str, ...]) -> str:
    """+CPIN: READY | SIM PIN | SIM PUK | ... → the code after the colon."""
    for line in lines:
        if line.upper().startswith("+CPIN:"):
            return line.split(":", 1)[1].strip().upper()
    return "UNKNOWN"


def parse_cereg_read(lines: tuple[str, ...]) -> Registration:
    """+CEREG: <n>,<stat>[,...] (answer to AT+CEREG?)."""
    for line in lines:
        if line.upper().startswith("+CEREG:"):
            f = _fields(line)
            if len(f) >= 2 and f[1].isdigit():
                return Registration.from_stat(int(f[1]))
    return Registration.UNKNOWN


def parse_cops(lines: tuple[str, ...]) -> str | None:
    """+COPS: <mode>[,<format>,"<oper>"[,<AcT>]] → operator name, or None when not on a network."""
    for line in lines:
        if line.upper().startswith("+COPS:"):
            m = re.search(r'"([^"]*)"', line)
            return m.group(1) if m and m.group(1) else None
    return None


def parse_csq(lines: tuple[str, ...]) -> int | None:
    """+CSQ: <rssi>,<ber> → rssi (0..31), None for 99 (not known) or nonsense."""
    for line in lines:
        if line.upper().startswith("+CSQ:"):
            f = _fields(line)
            if f and f[0].isdigit():
                v = int(f[0])
                return v if 0 <= v <= 31 else None
    return None


def parse_cgdcont(lines: tuple[str, ...], cid: int = 1) -> str | None:
    """+CGDCONT: <cid>,"<PDP_type>","<APN>",... → the APN of context ``cid``."""
    for line in lines:
        if line.upper().startswith("+CGDCONT:"):
            f = _fields(line)
            if len(f) >= 3 and f[0] == str(cid):
                return f[2].strip('"') or None
    return None


def parse_cgpaddr(lines: tuple[str, ...], cid: int = 1) -> str | None:
    """+CGPADDR: <cid>,<address> → the address of context ``cid``."""
    for line in lines:
        if line.upper().startswith("+CGPADDR:"):
            f = _fields(line)
            if len(f) >= 2 and f[0] == str(cid):
                return f[1].strip('"') or None
    return None
