"""The value type of a birth date that may be partly unknown (生年月日 不詳), issue 19.

Pure: standard library only (ground imports nothing of meibo's own but ground). Parsing the
register's many spellings (和暦, ``昭和20年不詳`` …) is ``appliance/birthdate.py``, which
re-exports ``BirthDate``; this module holds only the value, its canonical text and its bounds,
because ``ground.model.Voter`` carries one and ground may not import appliance.

A 住民記録 row may say a person was born in 1945 but not on which day, or not even the year.
Such a date has its unknown parts ``None``: never guessed (no 1 January filled in).

Canonical text (roll package, stores, roll.db, ``--json``): ``YYYY-MM-DD`` with ``00`` for an
unknown month or day and ``0000-00-00`` for an unknown year, so a known date reads exactly as
``date.isoformat()`` always did and old stores and packages read unchanged. Ordering follows the
canonical text (an unknown part sorts before every known one), so ``ORDER BY birth_date`` in SQL
and ``sorted`` in Python agree.

Hand-written rather than a partial-date library (EDTF's ``1945-XX-XX`` in ``edtf``): the stores,
the signed package and roll.db already hold ``YYYY-MM-DD`` text, and the 00 convention keeps every
known date byte-identical there; the value needs only bounds and ordering, a few lines of stdlib.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from functools import total_ordering

UNKNOWN_MARK = "不詳"
CANONICAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
MIN_YEAR = 1868  # 明治元年: the register's oldest possible year


@total_ordering
@dataclass(frozen=True, eq=True)
class BirthDate:
    """生年月日, each part ``None`` when the register says 不詳 (unknown)."""

    year: int | None
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if self.year is None and (self.month is not None or self.day is not None):
            raise ValueError("年が不詳のとき月日は書けません")
        if self.month is None and self.day is not None:
            raise ValueError("月が不詳のとき日は書けません")
        if self.year is not None and not MIN_YEAR <= self.year <= 9999:
            raise ValueError(f"年が正しくありません: {self.year}")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError(f"月が正しくありません: {self.month}")
        if self.day is not None:
            assert self.year is not None and self.month is not None
            date(self.year, self.month, self.day)  # ValueError for 2月30日

    @classmethod
    def of(cls, d: date) -> BirthDate:
        """A fully known birth date (no checks to repeat: ``d`` is a real day; hot on roll import)."""
        if d.year < MIN_YEAR:
            raise ValueError(f"年が正しくありません: {d.year}")
        b = object.__new__(cls)
        b.__dict__.update(year=d.year, month=d.month, day=d.day)
        return b

    @property
    def known(self) -> bool:
        """Every part is known."""
        return self.day is not None

    def as_date(self) -> date | None:
        """The calendar day, or ``None`` when any part is 不詳."""
        if self.year is None or self.month is None or self.day is None:
            return None
        return date(self.year, self.month, self.day)

    def earliest(self) -> date | None:
        """The first day the date could be (``None`` when the year is unknown)."""
        if self.year is None:
            return None
        return date(self.year, self.month or 1, self.day or 1)

    def latest(self) -> date | None:
        """The last day the date could be (``None`` when the year is unknown)."""
        if self.year is None:
            return None
        month = self.month or 12
        return date(self.year, month, self.day or calendar.monthrange(self.year, month)[1])

    def could_be(self, d: date) -> bool:
        """``d`` agrees with every known part (a search by a full date also finds 不詳 rows it may be)."""
        return ((self.year is None or self.year == d.year) and (self.month is None or self.month == d.month)
                and (self.day is None or self.day == d.day))

    def canonical(self) -> str:
        """``1945-03-00``; ``0000-00-00`` when nothing is known; a known date as ``isoformat``."""
        return f"{self.year or 0:04d}-{self.month or 0:02d}-{self.day or 0:02d}"

    isoformat = canonical  # callers written for a ``date`` keep writing the same text

    def ja(self) -> str:
        """For screens: ``1945年3月不詳``, ``不詳``, or ``1985年4月1日``."""
        if self.year is None:
            return UNKNOWN_MARK
        if self.month is None:
            return f"{self.year}年{UNKNOWN_MARK}"
        if self.day is None:
            return f"{self.year}年{self.month}月{UNKNOWN_MARK}"
        return f"{self.year}年{self.month}月{self.day}日"

    def age_on(self, day: date) -> int | None:
        """Full years on ``day`` counting birthdays (screens), or ``None`` when the known part cannot tell."""
        lo, hi = self.earliest(), self.latest()
        if lo is None or hi is None:
            return None
        a, b = _years(hi, day), _years(lo, day)
        return a if a == b else None

    def age_text(self, day: date) -> str:
        """``80歳``, ``80〜81歳`` (the known part allows both) or ``年齢不詳``."""
        lo, hi = self.earliest(), self.latest()
        if lo is None or hi is None:
            return "年齢不詳"
        a, b = _years(hi, day), _years(lo, day)
        return f"{a}歳" if a == b else f"{a}〜{b}歳"

    def _key(self) -> tuple[int, int, int]:
        return (self.year or 0, self.month or 0, self.day or 0)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, BirthDate):
            return NotImplemented
        return self._key() < other._key()


def _years(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def parse_canonical(text: str) -> BirthDate:
    """Read ``canonical()`` back (stores, packages, roll.db); ``ValueError`` for anything else."""
    if len(text) == 10 and "-00" not in text and not text.startswith("0000"):
        try:
            d = date.fromisoformat(text)  # the fast, common case: a known date
        except ValueError:
            raise ValueError(f"存在しない日付です: {text!r}") from None
        if d.year < MIN_YEAR:
            raise ValueError(f"年が古すぎます: {text!r}")
        return BirthDate.of(d)
    m = CANONICAL.match(text)
    if m is None:
        raise ValueError(f"生年月日の形式が正しくありません: {text!r}")
    y, mo, d_ = (int(x) for x in m.groups())
    if (y and y < MIN_YEAR) or mo > 12:
        raise ValueError(f"存在しない日付です: {text!r}")
    if y == 0 and (mo or d_):
        raise ValueError(f"年が不詳のとき月日は書けません: {text!r}")
    if mo == 0 and d_:
        raise ValueError(f"月が不詳のとき日は書けません: {text!r}")
    try:
        return BirthDate(y or None, mo or None, d_ or None)
    except ValueError:
        raise ValueError(f"存在しない日付です: {text!r}") from None


def as_birth(value: BirthDate | date) -> BirthDate:
    """A ``BirthDate`` from either (a ``date`` is a fully known birth date)."""
    if isinstance(value, BirthDate):
        return value
    if isinstance(value, date):
        return BirthDate.of(value)
    raise TypeError(f"birth date must be a BirthDate or a date, not {type(value).__name__}")
