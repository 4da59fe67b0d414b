"""Reading a birth date that may be partly unknown (生年月日 不詳), as 住民記録 systems write it (issue 19).

Pure: standard library, ``appliance.wareki`` and ``ground.birthdate`` only. Never import the
store, the CLI or I/O. The value type ``BirthDate`` lives in ``ground/birthdate.py`` (``Voter``
carries one and ground imports nothing of appliance); it is re-exported here for callers.

A 住民記録 row may say a person was born in 1945 but not on which day, or not even the year:
``1945-00-00``, ``1945-03-00``, ``昭和20年不詳``, ``昭和20年3月不詳``, ``不詳``. Such a date is a
``BirthDate`` with the unknown parts ``None``: never guessed (no 1 January filled in), never refused.
A date that is malformed or impossible WITHOUT a 不詳 mark stays an error (``WarekiInvalid``),
as ``appliance.wareki.parse_date`` says.

Canonical text (roll package, stores, ``--json``): ``YYYY-MM-DD`` with ``00`` for an unknown month
or day and ``0000-00-00`` for an unknown year, so a known date reads exactly as before.

``reaches_age_by`` answers the 18-year rule from the known part only: ``True`` when every day the
date could be proves the age, ``False`` when every day proves it is not reached, ``None`` when the
known part cannot tell (the poll worker must confirm the age from an ID).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import date, timedelta

from appliance.wareki import _BY_KEY, ERAS, WarekiInvalid, parse_date, to_wareki
from ground.birthdate import UNKNOWN_MARK, BirthDate, as_birth, parse_canonical

__all__ = ["BirthDate", "UNKNOWN_MARK", "as_birth", "from_canonical", "parse_birth", "reaches_age_by",
           "birth_wareki"]

_ISO_PARTIAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ERA_PARTIAL = re.compile(r"^(明治|大正|昭和|平成|令和|明|大|昭|平|令)(元|\d{1,3})年(?:(\d{1,2})月)?不詳$")


def from_canonical(text: str) -> BirthDate:
    """Read ``canonical()`` back; raise ``WarekiInvalid`` for anything else."""
    try:
        return parse_canonical(text)
    except ValueError as e:
        raise WarekiInvalid(str(e)) from None


def birth_wareki(birth: BirthDate | date, *, short: bool = False) -> str:
    """和暦 for screens and PDFs: ``昭和60年4月1日``; a 不詳 date as ``昭和20年3月不詳``, ``昭和20年不詳``
    or ``不詳`` (the era of an unknown-day date is the era of its first possible day)."""
    b = as_birth(birth)
    d = b.as_date()
    if d is not None:
        return to_wareki(d, short=short) if d >= ERAS[0].first else b.ja()  # before 明治: 西暦
    first, last = b.earliest(), b.latest()
    if first is None or last is None:
        return UNKNOWN_MARK
    if last < ERAS[0].first:  # wholly before 明治's first day: 西暦
        return b.ja()
    first = max(first, ERAS[0].first)
    if short:  # S20.3.1 → S20.3 不詳
        parts = to_wareki(first, short=True).split(".")
        return ".".join(parts[:2] if b.month is not None else parts[:1]) + f" {UNKNOWN_MARK}"
    full = to_wareki(first)  # e.g. 昭和20年3月1日: keep era and year (and month), drop the rest
    head = full[:full.index("年") + 1]
    return f"{head}{b.month}月{UNKNOWN_MARK}" if b.month is not None else f"{head}{UNKNOWN_MARK}"


def _partial(y: int, mo: int, d: int, shown: str) -> BirthDate:
    if y == 0 and (mo or d):
        raise WarekiInvalid(f"年が不詳のとき月日は書けません: {shown!r}")
    if mo == 0 and d:
        raise WarekiInvalid(f"月が不詳のとき日は書けません: {shown!r}")
    if y and y < 1868:
        raise WarekiInvalid(f"年が古すぎます: {shown!r}")
    if mo > 12:
        raise WarekiInvalid(f"存在しない日付です: {shown!r}")
    if d:
        try:
            date(y, mo, d)
        except ValueError:
            raise WarekiInvalid(f"存在しない日付です: {shown!r}") from None
    return BirthDate(y or None, mo or None, d or None)


def parse_birth(text: str) -> BirthDate:
    """Read a 生年月日 as the register writes it, 不詳 parts included.

    Without a 不詳 mark (``00`` in an ISO date, or the word 不詳) this is exactly
    ``wareki.parse_date``: malformed or impossible dates raise ``WarekiInvalid``.
    """
    t = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)) if len(text) <= 32 else text
    if t == UNKNOWN_MARK:
        return BirthDate(None)
    m = _ISO_PARTIAL.match(t)
    if m is not None and ("-00" in t or t.startswith("0000")):
        y, mo, d = (int(x) for x in m.groups())
        return _partial(y, mo, d, text)
    m = _ERA_PARTIAL.match(t)
    if m is not None:
        era = _BY_KEY[m.group(1)]
        n = 1 if m.group(2) == "元" else int(m.group(2))
        year = era.first.year + n - 1
        if n < 1 or (era.last is not None and year > era.last.year):
            raise WarekiInvalid(f"{era.name}{m.group(2)}年はありません: {text!r}")
        month = int(m.group(3)) if m.group(3) else None
        if month is not None:
            if not 1 <= month <= 12:
                raise WarekiInvalid(f"存在しない日付です: {text!r}")
            first_of_month = date(year, month, 1)
            last_of_month = date(year, month, calendar.monthrange(year, month)[1])
            if last_of_month < era.first or (era.last is not None and first_of_month > era.last):
                raise WarekiInvalid(f"{era.name}{m.group(2)}年{month}月はありません: {text!r}")
        return BirthDate(year, month)
    return BirthDate.of(parse_date(text))


def _reached_on(birth: date, age: int) -> date:
    """The day ``age`` is reached: the day before the birthday (年齢計算ニ関スル法律; 29 Feb → 28 Feb)."""
    year = birth.year + age
    try:
        birthday = birth.replace(year=year)
    except ValueError:
        birthday = date(year, 3, 1)
    return birthday - timedelta(days=1)


def reaches_age_by(birth: BirthDate, day: date, age: int = 18) -> bool | None:
    """Whether ``age`` is reached on or before ``day``, from the known part only; ``None``: cannot tell."""
    latest, earliest = birth.latest(), birth.earliest()
    if latest is None or earliest is None:
        return None
    if _reached_on(latest, age) <= day:
        return True
    if _reached_on(earliest, age) > day:
        return False
    return None
