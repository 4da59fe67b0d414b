"""Every timeout, interval and window of the hardware layer, one settings dataclass per device.

Owns: the numbers. Never imports a driver, a port or a clock; drivers take these objects as
arguments (STYLE rule 9) so that tests can shrink every wait to milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class ModemSettings:
    """LTE modem (3GPP TS 27.007 AT commands)."""

    command_timeout_s: float = 3.0  # an ordinary AT command's final result code
    operator_timeout_s: float = 10.0  # AT+COPS? may take seconds while the modem scans
    startup_attempts: int = 3  # `AT` tries before the modem counts as not responding
    poll_interval_s: float = 10.0  # AT+CEREG? / AT+CSQ refresh while running
    reopen_interval_s: float = 2.0  # after the port vanished (USB re-enumeration)
    max_line_bytes: int = 1024  # a longer line is noise, dropped


@dataclass(frozen=True)
class DualModemSettings:
    """Two modems on two carriers: failover and failback with hysteresis."""

    health_interval_s: float = 5.0  # how often both modems and the path to HQ are checked
    failover_after_failures: int = 2  # consecutive failed checks of the active modem's path to HQ
    failback_after_s: float = 120.0  # the preferred modem must stay healthy this long to come back
    health_check_timeout_s: float = 5.0  # one call of the injected path-to-HQ check


class Suffix(str, Enum):
    """What a scanner sends after each code (configured on the scanner itself)."""

    CR = "cr"
    LF = "lf"
    CRLF = "crlf"
    TAB = "tab"

    @property
    def bytes(self) -> bytes:
        return {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "tab": b"\t"}[self.value]


@dataclass(frozen=True)
class ScannerSettings:
    """Serial (USB-CDC) line-oriented 入場整理券 barcode scanner."""

    suffix: Suffix = Suffix.CR
    double_scan_window_s: float = 3.0  # the same code again within this window is a double scan
    reconnect_interval_s: float = 1.0  # retry opening the port after a disconnect
    max_line_bytes: int = 128  # a longer line is noise, reported as a misread
    read_chunk_bytes: int = 4096
