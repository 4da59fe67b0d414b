"""Every CSV meibo writes goes through this module, so that no cell can run as a spreadsheet formula.

Clerk ids, terminal-reported carrier and modem names, notes typed at HQ: text that reaches the
Excel-oriented exports from peers. A text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or
carriage return would be read by Excel / LibreOffice as a formula (``=HYPERLINK(...)``, DDE); such
a cell is written with a leading single quote, as OWASP's "CSV Injection" page recommends, so the
value stays readable and is shown, not evaluated.

The rule is by type, not by content:
- numbers meibo computes itself (``int``, finite ``float``; never ``bool``) are written as numbers,
  so a difference of ``-1`` stays ``-1`` and sums still work in the spreadsheet;
- every ``str`` is text and is defused, whoever wrote it: a "-1" that arrived as a string from a
  terminal is written ``'-1``;
- ``None`` is an empty cell; anything else is written as its ``str()`` and defused.
Defusing is idempotent: a defused cell starts with ``'``, which is not a trigger.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

# OWASP "CSV Injection": = + - @ and tab / carriage return (0x09, 0x0D)
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

def defuse(text: str) -> str:
    """``text`` as a cell a spreadsheet shows but never evaluates."""
    return "'" + text if text.startswith(TRIGGERS) else text


def cell(value: Any) -> str:
    """One cell: numbers meibo computed stay numbers, text is defused (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    return defuse(value if isinstance(value, str) else str(value))


class SafeWriter:
    """``csv.writer`` whose every cell goes through :func:`cell`; the only CSV writer meibo uses."""

    def __init__(self, out: TextIO, *, lineterminator: str = "\r\n") -> None:
        self._w = csv.writer(out, lineterminator=lineterminator)

    def writerow(self, row: Iterable[Any]) -> None:
        self._w.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        self._w.writerows([cell(v) for v in row] for row in rows)


def excel_csv(headers: Sequence[str], rows: Iterable[Iterable[Any]]) -> bytes:
    """An export for Excel: UTF-8 with BOM, CRLF, a header row, every cell defused."""
    buf = io.StringIO()
    w = SafeWriter(buf, lineterminator="\r\n")
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


__all__ = ["TRIGGERS", "defuse", "cell", "SafeWriter", "excel_csv"]
