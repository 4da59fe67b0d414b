"""和暦 (Japanese era) dates: parse birth dates as municipalities write them, and display them.

Pure: standard library only. Never import the store, the CLI or anything with I/O.

Accepted (full-width digits and spaces allowed everywhere):
- ISO ``1985-04-01`` (also ``1985/4/1``, ``19850401``);
- ``昭和60年4月1日``, ``平成元年1月8日``, ``昭60年4月1日``;
- short forms ``S60.4.1``, ``H1.1.8``, ``R2.5.1`` (also with ``/`` or ``-``, lower case, 昭60.4.1).

A 和暦 date is checked against its era's first and last day: 昭和64年1月8日 does not exist
(平成 began that day), 平成元年1月8日 does. 明治 is counted from 1868-10-23 (明治改元, in the
Gregorian calendar); earlier days are refused, and nobody on a roll was born then.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date


class WarekiInvalid(ValueError):
    """A date that cannot be read or does not exist. ``args[0]`` is a Japanese message."""


@dataclass(frozen=True)
class Era:
    name: str  # 昭和
    letter: str  # S
    first: date
    last: date | None  # None: the current era


ERAS: tuple[Era, ...] = (
    Era("明治", "M", date(1868, 10, 23), date(1912, 7, 29)),
    Era("大正", "T", date(1912, 7, 30), date(1926, 12, 24)),
    Era("昭和", "S", date(1926, 12, 25), date(1989, 1, 7)),
    Era("平成", "H", date(1989, 1, 8), date(2019, 4, 30)),
    Era("令和", "R", date(2019, 5, 1), None),
)
_BY_KEY: dict[str, Era] = {}
for _e in ERAS:
    _BY_KEY[_e.name] = _e
    _BY_KEY[_e.name[0]] = _e
    _BY_KEY[_e.letter] = _e

_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_KANJI = re.compile(r"^(明治|大正|昭和|平成|令和|明|大|昭|平|令)(元|\d{1,3})年(\d{1,2})月(\d{1,2})日$")
_SHORT = re.compile(r"^([MTSHR]|明|大|昭|平|令)(元|\d{1,3})[./-](\d{1,2})[./-](\d{1,2})$")
_MAX_LEN = 32


def _clean(text: str) -> str:
    t = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", t).upper()


def _make(y: int, m: int, d: int, original: str) -> date:
    try:
        return date(y, m, d)
    except ValueError:
        raise WarekiInvalid(f"存在しない日付です: {original!r}") from None


def from_era(era: Era, year: int, month: int, day: int, original: str | None = None) -> date:
    """The Gregorian date of ``era`` year ``year`` (1 = 元年), checked against the era's span."""
    shown = original if original is not None else f"{era.name}{year}年{month}月{day}日"
    if year < 1:
        raise WarekiInvalid(f"年が正しくありません: {shown!r}")
    d = _make(era.first.year + year - 1, month, day, shown)
    if d < era.first:
        raise WarekiInvalid(f"{era.name}は {era.first.isoformat()} からです: {shown!r}")
    if era.last is not None and d > era.last:
        raise WarekiInvalid(f"{era.name}は {era.last.isoformat()} までです: {shown!r}")
    return d


def parse_date(text: str) -> date:
    """Read an ISO or 和暦 date; raise ``WarekiInvalid`` with a Japanese message."""
    if len(text) > _MAX_LEN:
        raise WarekiInvalid(f"日付が長すぎます: {text[:_MAX_LEN]!r}…")
    t = _clean(text)
    if not t:
        raise WarekiInvalid("日付が空です")
    m = _ISO.match(t) or _COMPACT.match(t)
    if m:
        y, mo, d = (int(x) for x in m.groups())
        if y < 1868:
            raise WarekiInvalid(f"年が古すぎます: {text!r}")
        return _make(y, mo, d, text)
    m = _KANJI.match(t) or _SHORT.match(t)
    if m:
        era = _BY_KEY[m.group(1)]
        year = 1 if m.group(2) == "元" else int(m.group(2))
        return from_era(era, year, int(m.group(3)), int(m.group(4)), text)
    raise WarekiInvalid(f"日付が読めません: {text!r}（例: 1985-04-01, 昭和60年4月1日, S60.4.1）")


def era_of(d: date) -> Era:
    for era in reversed(ERAS):
        if d >= era.first:
            return era
    raise WarekiInvalid(f"明治より前の日付は和暦で表せません: {d.isoformat()}")


def to_wareki(d: date, *, short: bool = False) -> str:
    """``昭和60年4月1日`` (元年 for the first year), or ``S60.4.1`` when ``short``."""
    era = era_of(d)
    year = d.year - era.first.year + 1
    if short:
        return f"{era.letter}{year}.{d.month}.{d.day}"
    y = "元" if year == 1 else str(year)
    return f"{era.name}{y}年{d.month}月{d.day}日"
