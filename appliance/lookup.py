"""Terminal lookup (名簿検索): by 入場整理券 barcode, by 選挙人番号, or by kana prefix (+ birth date).

Reads the terminal's store only (never writes it, never touches the journal: audit logging of
lookups belongs to the journal's owner). Imports barcode and kana parsing; no CLI, no network.

Results are ordered by kana then birth date and capped at ``MAX_RESULTS``; each carries its 状態
and the ballots the terminal knows the voter received (``voted`` table: contest, station, time).
Narrowing by a full birth date also finds the 生年月日 不詳 rows that date could be (``1945-03-00``,
``1945-00-00``, ``0000-00-00`` for 1945-03-10): a poll worker must not miss a voter because the
register does not know the day. ``birth_unknown`` in ``as_dict`` says a date is partly unknown.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ground.barcode import parse_barcode
from ground.clock import JST
from ground.errors import ApplianceError, UsageError
from ground.hlc import wall_ms_of
from appliance.kana import is_valid_kana, kana_key, prefix_upper_bound
from ground.model import BarcodeFormat, DisplayReason, Sex, Status, Voter, VoterId
from appliance.birthdate import birth_wareki, from_canonical

MAX_RESULTS = 50
_COLS = ("voter_id, district, name, kana, birth_date, sex, address, status, display_reason, moved_on, "
         "moved_within_pref")


class RollNotInstalled(ApplianceError):
    code = "roll_not_installed"


@dataclass(frozen=True)
class VotedMark:
    """A ballot this terminal knows was handed to the voter (投票済)."""

    contest: str
    station: str
    terminal: str
    at: datetime  # wall time of the hybrid-logical-clock stamp, Japan time


@dataclass(frozen=True)
class Found:
    voter: Voter
    voted: tuple[VotedMark, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        v = self.voter
        return {
            "voter_id": v.voter_id, "district": v.district, "name": v.name, "name_kana": v.name_kana,
            "birth_date": v.birth_date.canonical(), "birth_wareki": birth_wareki(v.birth_date),
            "birth_unknown": not v.birth_date.known, "sex": v.sex.value,
            "address": v.address, "status": v.status.value, "status_ja": status_ja(v),
            "display_reason": v.display_reason.value if v.display_reason else None,
            "moved_on": v.moved_on.isoformat() if v.moved_on else None,
            "moved_within_prefecture": v.moved_within_prefecture,
            "voted": [{"contest": m.contest, "station": m.station, "terminal": m.terminal,
                       "at": m.at.isoformat(timespec="seconds")} for m in self.voted],
        }


@dataclass(frozen=True)
class LookupResult:
    found: tuple[Found, ...]
    truncated: bool  # more than MAX_RESULTS matched


def status_ja(v: Voter) -> str:
    if v.status is not Status.DISPLAYED:
        return v.status.ja
    if v.display_reason is DisplayReason.LOST_RIGHTS:
        return "表示（失権）"
    where = {True: "県内", False: "県外", None: ""}[v.moved_within_prefecture]
    on = f" {v.moved_on.isoformat()}" if v.moved_on else ""
    return f"表示（転出・{where}{on}）"


def _voter(r: tuple[Any, ...]) -> Voter:
    vid, district, name, kana, birth, sex, address, status, reason, moved_on, within = r
    return Voter(VoterId(vid), district, name, kana, from_canonical(birth), Sex(sex), address, Status(status),
                 DisplayReason(reason) if reason else None, date.fromisoformat(moved_on) if moved_on else None,
                 None if within is None else bool(within))


def _found(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> tuple[Found, ...]:
    """Voters with their 投票済 marks, fetched in one query for all of them."""
    if not rows:
        return ()
    ids = [r[0] for r in rows]
    marks: dict[str, list[VotedMark]] = {}
    q = ",".join("?" * len(ids))
    for vid, c, s, t, h in conn.execute(f"SELECT voter_id, contest, station, terminal, hlc FROM voted "
                                        f"WHERE voter_id IN ({q}) ORDER BY hlc", ids):
        marks.setdefault(vid, []).append(VotedMark(c, s, t, datetime.fromtimestamp(wall_ms_of(h) / 1000, JST)))
    return tuple(Found(_voter(r), tuple(marks.get(r[0], ()))) for r in rows)


def _require_roll(conn: sqlite3.Connection) -> None:
    if conn.execute("SELECT 1 FROM meta WHERE key='roll_version'").fetchone() is None:
        raise RollNotInstalled("名簿が導入されていません（meibo terminal install-roll を実行してください）")


def by_voter_id(conn: sqlite3.Connection, voter_id: str) -> LookupResult:
    _require_roll(conn)
    r = conn.execute(f"SELECT {_COLS} FROM voters WHERE voter_id=?", (voter_id,)).fetchone()
    if r is None:
        return LookupResult((), False)
    return LookupResult(_found(conn, [r]), False)


def by_barcode(conn: sqlite3.Connection, text: str, fmt: BarcodeFormat) -> LookupResult:
    """Parse first: a misread check digit or another election's ticket raises and is never looked up."""
    voter_id = parse_barcode(text, fmt)
    return by_voter_id(conn, voter_id)


def by_kana(conn: sqlite3.Connection, query: str, birth: date | None = None) -> LookupResult:
    """Voters whose kana starts with ``query`` (any script, space optional), ordered by kana then birth."""
    key = kana_key(query)
    if not key:
        raise UsageError("カナを 1 文字以上入力してください", code="kana_empty")
    if not is_valid_kana(key):  # no stored key can start with it (kanji, symbols …)
        raise UsageError(f"氏名カナはかな（ひらがな・カタカナ）で入力してください: {query!r}", code="kana_invalid")
    _require_roll(conn)
    hi = prefix_upper_bound(key)
    # Range scan on the (kana_key, birth_date) index: reads at most MAX_RESULTS + 1 rows.
    if birth is None:
        rows = conn.execute(f"SELECT {_COLS} FROM voters WHERE kana_key >= ? AND kana_key < ? "
                            "ORDER BY kana_key, birth_date, voter_id LIMIT ?", (key, hi, MAX_RESULTS + 1)).fetchall()
    else:
        could_be = (birth.isoformat(), f"{birth.year:04d}-{birth.month:02d}-00", f"{birth.year:04d}-00-00",
                    "0000-00-00")  # the date itself and the 不詳 forms it may be
        rows = conn.execute(f"SELECT {_COLS} FROM voters WHERE kana_key >= ? AND kana_key < ? "
                            "AND birth_date IN (?, ?, ?, ?) ORDER BY kana_key, birth_date, voter_id LIMIT ?",
                            (key, hi, *could_be, MAX_RESULTS + 1)).fetchall()
    truncated = len(rows) > MAX_RESULTS
    return LookupResult(_found(conn, rows[:MAX_RESULTS]), truncated)
