"""Scanner bytes → scan events. Pure, sans-I/O: chunks split anywhere in, typed events out.

Owns: framing lines by the configured suffix (CR, LF, CRLF, TAB), decoding a line into a voter id
with ``ground.barcode.parse_barcode`` (the terminal core's check digit), and the double-scan
window. Never imports serial, os, asyncio or a clock: times come in with the bytes.

Framing: the last byte of the suffix ends a line; CR, LF and TAB left around a line are dropped
(a scanner set to CRLF while we expect CR still works). A line longer than ``max_line_bytes`` is
one ``Overlong`` (reported as a misread), whatever the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ground.barcode import BarcodeCheckDigit, BarcodeOtherElection, parse_barcode
from ground.errors import BarcodeInvalid
from ground.model import BarcodeFormat, VoterId
from hardware.scanner.base import DoubleScan, Misread, OtherElection, ScanEvent, VoterScanned
from hardware.settings import ScannerSettings, Suffix


@dataclass(frozen=True)
class Line:
    text: str


@dataclass(frozen=True)
class Overlong:
    length: int


Frame = Line | Overlong


class LineSplitter:
    def __init__(self, suffix: Suffix, max_line_bytes: int = 128) -> None:
        self._end = suffix.bytes[-1]
        self._max = max_line_bytes
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        for b in data:
            if b == self._end:
                if self._discarding:
                    self._discarding = False
                else:
                    text = bytes(self._buf).decode("utf-8", errors="replace").strip("\r\n\t ")
                    if text:
                        out.append(Line(text))
                self._buf.clear()
            elif self._discarding:
                continue
            elif b in (0x0D, 0x0A, 0x09) and not self._buf:
                continue  # leftovers of another suffix before a line starts
            else:
                self._buf.append(b)
                if len(self._buf) > self._max:
                    out.append(Overlong(len(self._buf)))
                    self._buf.clear()
                    self._discarding = True
        return out

    def reset(self) -> None:
        """Drop a half line (after a disconnect the rest of it never comes)."""
        self._buf.clear()
        self._discarding = False


class ScanInterpreter:
    """One line → one typed event; remembers recent good reads for the double-scan window."""

    def __init__(self, fmt: BarcodeFormat, window_s: float) -> None:
        self._fmt = fmt
        self._window = window_s
        self._seen: dict[VoterId, tuple[datetime, datetime]] = {}  # voter → (first, last) read

    def interpret(self, text: str, at: datetime) -> ScanEvent:
        try:
            voter = parse_barcode(text, self._fmt)
        except BarcodeOtherElection as e:
            return OtherElection(text, e.message, at)
        except BarcodeCheckDigit as e:
            return Misread(text, e.code, e.message, at)
        except BarcodeInvalid as e:
            return Misread(text, e.code, e.message, at)
        self._forget_before(at)
        prev = self._seen.get(voter)
        if prev is not None:
            # Sliding window: a ticket left under the scanner keeps re-reading and stays one scan.
            self._seen[voter] = (prev[0], at)
            return DoubleScan(voter, text, at, prev[0])
        self._seen[voter] = (at, at)
        return VoterScanned(voter, text, at)

    def overlong(self, length: int, at: datetime) -> Misread:
        return Misread(f"<{length} bytes>", "barcode_too_long", "バーコードとして長すぎる読み取りです。もう一度読み取ってください。", at)

    def _forget_before(self, at: datetime) -> None:
        for v, (_, last) in list(self._seen.items()):
            if (at - last).total_seconds() > self._window:
                del self._seen[v]


class ScanDecoder:
    """Splitter + interpreter: what both the driver and the in-process simulator run."""

    def __init__(self, fmt: BarcodeFormat, settings: ScannerSettings) -> None:
        self.splitter = LineSplitter(settings.suffix, settings.max_line_bytes)
        self.interpreter = ScanInterpreter(fmt, settings.double_scan_window_s)

    def feed(self, data: bytes, at: datetime) -> list[ScanEvent]:
        out: list[ScanEvent] = []
        for f in self.splitter.feed(data):
            if isinstance(f, Line):
                out.append(self.interpreter.interpret(f.text, at))
            else:
                out.append(self.interpreter.overlong(f.length, at))
        return out
