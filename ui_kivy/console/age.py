"""The console's 年齢確認 list (issue 19): voters whose 生年月日 不詳 leaves the 18-year rule open, so
a poll worker must confirm the age from an ID, with whether (and where) they have checked in.

No kivy. May import ``hq`` and ``ground``. The voters come from ``hq.roll.age_checks`` (roll.db,
re-read only when roll.db changes: it is a scan of the roll); whether each has checked in comes
from the console's own ledger (any contest with a ballot handed: ``Ledger.ballots``), read on
the thread that owns that ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.dirs import HqDir
from ground.model import ElectionConfig
from ground.names import display_name
from hq.records import hlc_dt
from hq.roll import AgeCheck, age_checks


@dataclass(frozen=True)
class AgeRow:
    voter_id: str
    district: int
    name: str  # as shown: ground.names.display_name (外字 as 〓 with the kana)
    kana: str
    birth: str  # 和暦 as far as known: 昭和20年3月不詳
    code: str  # age_confirm_id (an ID decides) or underage (the known part proves under 18)
    checked_in: str  # 未受付 / 受付済（E01 中区役所 4月20日 12:00）
    done: bool


class AgeChecks:
    """``hq.roll.age_checks`` kept until roll.db changes (its mtime and size)."""

    def __init__(self, hq: HqDir) -> None:
        self.hq = hq
        self._key: tuple[float, int] | None = None
        self._checks: list[AgeCheck] = []

    def read(self) -> list[AgeCheck]:
        """Blocking (reads roll.db): call from a worker thread."""
        p = self.hq.roll_db
        key = (p.stat().st_mtime, p.stat().st_size) if p.exists() else (0.0, 0)
        if key != self._key:
            self._checks, self._key = age_checks(self.hq), key
        return self._checks


def age_rows(checks: list[AgeCheck], ledger: Any, config: ElectionConfig) -> list[AgeRow]:
    """Each voter to check, with the first ballot handed to them (from ``ledger.ballots``)."""
    out = []
    for c in checks:
        first = None
        for contest in config.contest_ids:
            for key in ledger.ballots.get((c.voter_id, contest), ()):
                rec = ledger.checkins.get(key)
                if rec is not None and (first is None or rec.ref.hlc < first.ref.hlc):
                    first = rec
        if first is None:
            seen = "未受付"
        else:
            st = first.ref.station
            try:
                where = f"{st} {config.station(st).name}"
            except KeyError:
                where = "不在者投票" if st == "HQ" else st
            at = hlc_dt(first.ref.hlc)
            seen = f"受付済（{where} {at.month}月{at.day}日 {at:%H:%M}）"
        out.append(AgeRow(c.voter_id, c.district, display_name(c.name, c.kana), c.kana, c.birth_ja, c.code, seen,
                          first is not None))
    return out


__all__ = ["AgeRow", "AgeChecks", "age_rows"]
