"""HQ side of the election-day procedures (issue 10): 不在者投票 status per voter and contest, and
the figures the office reports — 当日 hourly by 投票区 and sex, 期日前 by station/day/hour, 年代別
turnout, 投票録 per station, and 名簿対照数 vs 交付数 (records.hourly_rows, reused).

Pure over a ``Ledger`` (ballots: a check-in contest in state ``ballot``), the accepted journal
events (for the marks a ledger does not keep: 代理/点字/宣誓書事由, 仮投票, closing counts) and the
master roll's facts (投票区, 性別, 生年月日). The edge functions at the bottom read those from HQ's store
and roll.db; nothing above them does I/O.

The 不在者投票 status lives in its own table of HQ's store (``absentee_status``, made by migration
``_m2`` of either backend like every HQ table: callers pass an opened ``HqStore``). Its state
machine is the table ``ABSENTEE_MOVES``: an illegal move raises and changes nothing. ``accepted``
(受理) is the moment the ballot counts as voted everywhere: the caller records it with
``hq_ops.record_absentee`` (the existing ABSENTEE event) in the same step.

Never imports the UI or the terminal's store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from appliance.csvsafe import excel_csv
from appliance.eligibility import AGE_ID_KINDS
from ground.birthdate import BirthDate, parse_canonical
from ground.errors import UsageError
from ground.events import Event, EventKind, decode
from ground.model import HQ_TERMINAL, ElectionConfig, StationId, StationKind, TerminalId, VoterId
from hq.ledger import CState, Ledger
from hq.records import Table, hlc_dt, hourly_rows, station_kind, station_name

DEFAULT_REPORT_HOURS = (10, 11, 14, 16, 18)
AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("18-19歳", 18, 19), ("20代", 20, 29), ("30代", 30, 39), ("40代", 40, 49), ("50代", 50, 59),
    ("60代", 60, 69), ("70代", 70, 79), ("80歳以上", 80, 200))
SEX_JA = {"M": "男", "F": "女"}


# ---------------------------------------------------------------------------------------------
# 不在者投票 status

ABSENTEE_STATES = ("requested", "issued", "received", "accepted", "rejected", "returned")
ABSENTEE_STATE_JA = {"requested": "請求受付", "issued": "用紙交付", "received": "選管受領", "accepted": "受理",
                     "rejected": "不受理", "returned": "用紙返還"}
# (from, to) allowed; from None = no record yet. accepted / rejected / returned are final.
ABSENTEE_MOVES: dict[str | None, tuple[str, ...]] = {
    None: ("requested", "issued"),
    "requested": ("issued", "rejected"),
    "issued": ("received", "returned", "rejected"),
    "received": ("accepted", "rejected"),
}


class AbsenteeMoveRefused(UsageError):
    code = "absentee_transition_invalid"


class AbsenteeStore(Protocol):
    """The part of ``HqStore`` the 不在者投票 status reads and writes (either backend)."""

    def absentee_rows(self, voter: str | None = None) -> list[tuple[int, str, str, str, str, str, str]]: ...

    def add_absentee_status(self, voter: str, contest: str, state: str, at: str, who: str, note: str) -> None: ...


def absentee_current(store: AbsenteeStore, voter: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(voter, contest) → latest row {state, at, who, note, id}."""
    rows = store.absentee_rows(voter)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for i, v, c, s, at, who, note in rows:
        out[(v, c)] = {"id": i, "state": s, "at": at, "who": who, "note": note}
    return out


def next_absentee_state(current: str | None, wanted: str, *, already_voted_at: str | None = None) -> str:
    """Pure: the state machine. Raises ``AbsenteeMoveRefused`` (nothing changes) when illegal.
    ``already_voted_at`` names where the voter already received the contest's ballot: an
    envelope of such a voter can only be 不受理."""
    if wanted not in ABSENTEE_STATES:
        raise AbsenteeMoveRefused(f"状態は {' / '.join(ABSENTEE_STATES)} のいずれかです: {wanted}", code="absentee_state_invalid")
    allowed = ABSENTEE_MOVES.get(current, ())
    if wanted not in allowed:
        now_ja = "記録なし" if current is None else ABSENTEE_STATE_JA[current]
        nxt = "、".join(ABSENTEE_STATE_JA[s] for s in allowed) or "なし（確定済み）"
        raise AbsenteeMoveRefused(f"不在者投票の状態を「{now_ja}」から「{ABSENTEE_STATE_JA[wanted]}」にはできません"
                                  f"（次にできるのは: {nxt}）")
    if wanted == "accepted" and already_voted_at:
        raise AbsenteeMoveRefused(f"この選挙人はすでに投票済みです（{already_voted_at}）。"
                                  "この不在者投票は受理できません（不受理にしてください）", code="already_voted")
    return wanted


def set_absentee_status(store: AbsenteeStore, ledger: Ledger, config: ElectionConfig, voter: str, contest: str,
                        state: str, who: str, at: datetime, note: str = "") -> dict[str, Any]:
    """Record one move (durably, one transaction). The caller records the ballot for ``accepted``
    (hq_ops.record_absentee) — and must do it before telling anyone the move is done."""
    if contest not in config.contest_ids:
        raise UsageError(f"選挙 {contest} はこの選挙にありません", code="contest_unknown")
    if not who.strip():
        raise UsageError("担当者を入力してください", code="who_required")
    cur = absentee_current(store, voter).get((voter, contest))
    holder = ledger.holder(VoterId(voter), contest)
    where = None
    if holder is not None and holder.terminal != HQ_TERMINAL:
        where = f"{station_name(config, holder.station)} {hlc_dt(holder.hlc):%m月%d日 %H:%M}"
    new = next_absentee_state(cur["state"] if cur else None, state, already_voted_at=where)
    store.add_absentee_status(voter, contest, new, at.isoformat(timespec="seconds"), who.strip(), note.strip())
    return {"code": "ok", "voter": voter, "contest": contest, "state": new,
            "previous": cur["state"] if cur else None, "record_ballot": new == "accepted"}


def absentee_notices(current: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(voter, contest, state) for terminals: what a station must know to warn (docs/procedures.md
    describes the FLAGS-stream notice that carries these)."""
    return sorted((v, c, str(r["state"])) for (v, c), r in current.items())


# ---------------------------------------------------------------------------------------------
# facts

@dataclass(frozen=True)
class RollFact:
    district: int
    sex: str  # M / F
    birth_date: BirthDate | date  # a BirthDate from roll.db, parts may be 不詳 (issue 19)
    status: str  # registered / deleted / displayed


@dataclass(frozen=True)
class Visit:
    """One check-in that still hands at least one ballot (or a 不在者投票 at HQ)."""

    voter: VoterId
    terminal: TerminalId
    seq: int
    station: StationId
    kind: str  # early / common / day / absentee
    at: datetime
    contests: tuple[str, ...]  # ballots (state ``ballot``)


def visits(ledger: Ledger, config: ElectionConfig) -> list[Visit]:
    out = []
    for (t, s), rec in ledger.checkins.items():
        ballots = tuple(c for c in rec.contests if rec.state.get(c) is CState.BALLOT)
        if ballots:
            out.append(Visit(rec.voter, t, s, rec.ref.station, station_kind(config, rec.ref.station),
                             hlc_dt(rec.ref.hlc), ballots))
    out.sort(key=lambda v: (v.at, v.terminal, v.seq))
    return out


def checkin_marks(events: Iterable[Event]) -> dict[tuple[str, int], Mapping[str, Any]]:
    """(terminal, seq) → the check-in's data (marks: proxy, braille, oath_reason, zaigai)."""
    return {(e.terminal, e.seq): e.data for e in events if e.kind is EventKind.CHECKIN}


def age_confirmations(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Every check-in a poll worker made after a 年齢確認 (生年月日 不詳, issue 19), in ingest order:
    terminal, seq, station, voter, the ID kind and its Japanese label (for the console and audits)."""
    return [{"terminal": e.terminal, "seq": e.seq, "station": e.data.get("station"), "voter": e.data.get("voter"),
             "id_kind": e.data["age_confirmed"], "id_label": AGE_ID_KINDS.get(str(e.data["age_confirmed"]), "不明")}
            for e in events if e.kind is EventKind.CHECKIN and "age_confirmed" in e.data]


def age_on(birth: date | BirthDate, day: date) -> int | None:
    """Full years on ``day``; ``None`` when a 不詳 birth date leaves the age open."""
    if isinstance(birth, BirthDate):
        return birth.age_on(day)
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


AGE_UNKNOWN_BAND = "年齢不詳"  # 生年月日 不詳 leaves the age open: its own row, never guessed into a band


def _band(birth: BirthDate | date, day: date) -> str | None:
    a = age_on(birth, day)
    return AGE_UNKNOWN_BAND if a is None else age_band(a)


def age_band(age: int) -> str | None:
    for label, lo, hi in AGE_BANDS:
        if lo <= age <= hi:
            return label
    return None


def _tbl(cols: Sequence[tuple[str, str]], rows: list[dict[str, Any]]) -> Table:
    return Table(tuple(k for k, _ in cols), tuple(h for _, h in cols), rows)


# ---------------------------------------------------------------------------------------------
# 当日: voters per 投票区 by sex at the report times (cumulative before H:00)

def day_hourly(ledger: Ledger, config: ElectionConfig, roll: Mapping[str, RollFact],
               hours: Sequence[int] = DEFAULT_REPORT_HOURS) -> Table:
    day = config.election_day
    first: dict[str, Visit] = {}
    for v in visits(ledger, config):
        if v.at.date() == day and v.kind in ("day", "common") and v.voter not in first:
            first[v.voter] = v
    electors: dict[tuple[int | None, str], int] = {}
    for f in roll.values():
        if f.status == "registered":
            electors[(f.district, f.sex)] = electors.get((f.district, f.sex), 0) + 1
    counts: dict[tuple[int | None, str], list[datetime]] = {}
    for vid, v in first.items():
        fact = roll.get(vid)
        key = (fact.district, fact.sex) if fact else (None, "")
        counts.setdefault(key, []).append(v.at)
    keys = sorted(set(electors) | set(counts), key=lambda k: (k[0] is None, k[0] or 0, k[1]))
    rows = []
    for d, s in keys:
        ts = counts.get((d, s), [])
        row: dict[str, Any] = {"day": day.isoformat(), "district": d if d is not None else "",
                               "sex": SEX_JA.get(s, "在外・不明"), "electors": electors.get((d, s), 0)}
        for h in hours:
            row[f"at_{h}"] = sum(1 for t in ts if (t.hour, t.minute) < (h, 0))
        row["total"] = len(ts)
        rows.append(row)
    cols = [("day", "日付"), ("district", "投票区"), ("sex", "性別"), ("electors", "当日有権者数（登録）")]
    cols += [(f"at_{h}", f"{h}時現在") for h in hours] + [("total", "最終")]
    return _tbl(cols, rows)


# ---------------------------------------------------------------------------------------------
# 期日前: by station, day and hour

def early_by_hour(ledger: Ledger, config: ElectionConfig) -> Table:
    per: dict[tuple[str, str, int], int] = {}
    for v in visits(ledger, config):
        if v.kind == "early":
            k = (v.station, v.at.date().isoformat(), v.at.hour)
            per[k] = per.get(k, 0) + 1
    rows = []
    cum: dict[str, int] = {}
    for (s, d, h), n in sorted(per.items()):
        cum[s] = cum.get(s, 0) + n
        rows.append({"station": s, "station_name": station_name(config, s), "day": d, "hour": h, "voters": n,
                     "cumulative": cum[s]})
    return _tbl((("station", "投票所ID"), ("station_name", "投票所名"), ("day", "日付"), ("hour", "時"),
                 ("voters", "投票者数"), ("cumulative", "累計")), rows)


# ---------------------------------------------------------------------------------------------
# 年代別 turnout (age on election day)

def turnout_by_age(ledger: Ledger, config: ElectionConfig, roll: Mapping[str, RollFact]) -> Table:
    day = config.election_day
    electors: dict[tuple[str, str], int] = {}
    for f in roll.values():
        b = _band(f.birth_date, day)
        if f.status == "registered" and b:
            electors[(b, f.sex)] = electors.get((b, f.sex), 0) + 1
    voted: dict[tuple[str, str], set[str]] = {}
    for v in visits(ledger, config):
        fact = roll.get(v.voter)
        if fact is None or fact.status != "registered":
            continue
        b = _band(fact.birth_date, day)
        if b:
            voted.setdefault((b, fact.sex), set()).add(v.voter)
    rows = []
    labels = [label for label, _, _ in AGE_BANDS]
    if any(b == AGE_UNKNOWN_BAND for b, _ in electors):
        labels.append(AGE_UNKNOWN_BAND)
    for label in labels:
        e = {s: electors.get((label, s), 0) for s in ("M", "F")}
        n = {s: len(voted.get((label, s), ())) for s in ("M", "F")}
        te, tn = e["M"] + e["F"], n["M"] + n["F"]
        rows.append({"band": label, "electors": te, "voters": tn,
                     "turnout": round(100 * tn / te, 2) if te else None,
                     "male_voters": n["M"], "female_voters": n["F"],
                     "male_turnout": round(100 * n["M"] / e["M"], 2) if e["M"] else None,
                     "female_turnout": round(100 * n["F"] / e["F"], 2) if e["F"] else None})
    return _tbl((("band", "年代"), ("electors", "有権者数"), ("voters", "投票者数"), ("turnout", "投票率(%)"),
                 ("male_voters", "男 投票者数"), ("female_voters", "女 投票者数"), ("male_turnout", "男 投票率(%)"),
                 ("female_turnout", "女 投票率(%)")), rows)


# ---------------------------------------------------------------------------------------------
# 投票録 per station and contest

TOHYOROKU_COLUMNS = (
    ("station", "投票所ID"), ("station_name", "投票所名"), ("kind", "投票所種別"), ("contest", "選挙"),
    ("contest_name", "選挙名"), ("voters_normal", "投票者数 普通"), ("voters_early", "投票者数 期日前"),
    ("voters_absentee", "投票者数 不在者"), ("voters_total", "投票者数 計"), ("tentative", "仮投票"),
    ("proxy", "代理投票"), ("braille", "点字投票"), ("received", "投票用紙 受領数"), ("issued", "投票用紙 交付数"),
    ("left", "投票用紙 残数"), ("matched", "名簿対照数"), ("issued_difference", "差（交付数−名簿対照数）"),
    ("stock_difference", "差（受領数−交付数−残数）"), ("flagged", "要確認"))


def tohyoroku(ledger: Ledger, config: ElectionConfig, events: Sequence[Event], roll: Mapping[str, RollFact],
              received: Mapping[tuple[str, str], int] | None = None) -> Table:
    """One row per (station, contest). 不在者 ballots go to the day station of the voter's 投票区.
    ``received`` (受領数 known at HQ) overrides what the station entered."""
    marks = checkin_marks(events)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    day_of_district: dict[int | None, str] = {s.district: s.station_id for s in config.stations if s.kind is StationKind.DAY}

    def row(station: str, contest: str) -> dict[str, Any]:
        key = (station, contest)
        if key not in rows:
            rows[key] = {"station": station, "station_name": station_name(config, station),
                         "kind": station_kind(config, station), "contest": contest,
                         "contest_name": _cname(config, contest), "voters_normal": 0, "voters_early": 0,
                         "voters_absentee": 0, "voters_total": 0, "tentative": 0, "proxy": 0, "braille": 0,
                         "received": None, "issued": None, "left": None, "matched": 0}
        return rows[key]

    for s in config.stations:
        for cid in config.contest_ids:
            row(s.station_id, cid)
    for v in visits(ledger, config):
        d = marks.get((v.terminal, v.seq), {})
        for c in v.contests:
            if v.kind == "absentee":
                fact = roll.get(v.voter)
                day_st = day_of_district.get(fact.district) if fact else None
                if day_st is None:
                    continue
                r = row(day_st, c)
                r["voters_absentee"] += 1
                continue
            r = row(v.station, c)
            r["matched"] += 1
            r["voters_early" if v.kind == "early" else "voters_normal"] += 1
            r["proxy"] += bool(d.get("proxy"))
            r["braille"] += bool(d.get("braille"))
    last: dict[tuple[str, str], tuple[int, Mapping[str, Any]]] = {}
    for e in events:
        st: str = str(e.data.get("station") or (ledger.terminals[e.terminal].station if e.terminal in ledger.terminals else ""))
        if e.kind is EventKind.TENTATIVE:
            for c in e.contests:
                row(st, c)["tentative"] += 1
        elif e.kind is EventKind.COUNT:
            k: tuple[str, str] = (st, str(e.data["contest"]))
            if k not in last or e.hlc >= last[k][0]:
                last[k] = (e.hlc, e.data)
    for key, (_, d) in last.items():
        r = row(*key)
        r["issued"] = int(d["issued"])
        if isinstance(d.get("left"), int):
            r["left"] = d["left"]
        if isinstance(d.get("received"), int):
            r["received"] = d["received"]
    for key, n in (received or {}).items():
        row(*key)["received"] = n
    out = []
    for r in rows.values():
        r["voters_total"] = r["voters_normal"] + r["voters_early"] + r["voters_absentee"]
        r["issued_difference"] = None if r["issued"] is None else r["issued"] - r["matched"]
        r["stock_difference"] = (None if None in (r["received"], r["issued"], r["left"])
                                 else r["received"] - r["issued"] - r["left"])
        r["flagged"] = bool(r["issued_difference"]) or bool(r["stock_difference"])
        out.append(r)
    order = {c: i for i, c in enumerate(config.contest_ids)}
    out.sort(key=lambda r: (r["station"], order.get(r["contest"], 99)))
    return _tbl(TOHYOROKU_COLUMNS, out)


def _cname(config: ElectionConfig, c: str) -> str:
    try:
        return config.contest(c).name
    except KeyError:
        return c


RECONCILE_COLUMNS = (("day", "日付"), ("hour", "時"), ("station", "投票所ID"), ("station_name", "投票所名"),
                     ("contest", "選挙"), ("matched", "名簿対照数"), ("issued", "交付数"),
                     ("difference", "差（交付数−名簿対照数）"), ("flagged", "要確認"))


def reconcile(ledger: Ledger, config: ElectionConfig) -> Table:
    """名簿対照数 vs 交付数 per station, contest and hour (records.hourly_rows), every difference flagged."""
    rows = [{"day": h.day, "hour": h.hour, "station": h.station, "station_name": h.station_name,
             "contest": h.contest, "matched": h.matched, "issued": h.issued, "difference": h.difference,
             "flagged": h.flagged} for h in hourly_rows(ledger, config)]
    return _tbl(RECONCILE_COLUMNS, rows)


REPORTS = ("hourly", "early", "age", "tohyoroku", "reconcile")
REPORT_JA = {"hourly": "当日 時間別投票者数（投票区・男女別）", "early": "期日前投票者数（投票所・日・時間別）",
             "age": "年代別投票率", "tohyoroku": "投票録の数字（投票所・選挙別）", "reconcile": "名簿対照数と交付数の照合"}


def build_report(what: str, ledger: Ledger, config: ElectionConfig, events: Sequence[Event],
                 roll: Mapping[str, RollFact], hours: Sequence[int] = DEFAULT_REPORT_HOURS) -> Table:
    if what == "hourly":
        return day_hourly(ledger, config, roll, hours)
    if what == "early":
        return early_by_hour(ledger, config)
    if what == "age":
        return turnout_by_age(ledger, config, roll)
    if what == "tohyoroku":
        return tohyoroku(ledger, config, events, roll)
    if what == "reconcile":
        return reconcile(ledger, config)
    raise UsageError(f"帳票の種類は {' / '.join(REPORTS)} のいずれかです: {what}", code="report_unknown")


def table_csv(t: Table) -> bytes:
    """CSV, UTF-8 with BOM (Excel), CRLF, Japanese headers; text cells defused (appliance/csvsafe.py)."""
    return excel_csv(t.headers, t.csv_rows())


def table_json(t: Table, what: str, election: str) -> bytes:
    rows = [{k: r.get(k) for k in t.keys} for r in t.rows]
    return (json.dumps({"what": what, "election": election, "rows": rows}, ensure_ascii=False, indent=1)
            + "\n").encode("utf-8")


# ---------------------------------------------------------------------------------------------
# the edge: facts from hq.db and roll.db

class EventsStore(Protocol):
    def events_of_kinds(self, kinds: Iterable[str]) -> list[bytes]: ...


def events_of_kinds(store: EventsStore, kinds: Sequence[str] = ("checkin", "tentative", "count")) -> list[Event]:
    """The reports' events, in HQ's ingest order, from ``HqStore`` on either backend."""
    return [decode(b) for b in store.events_of_kinds(kinds)]


def roll_facts(conn: sqlite3.Connection) -> dict[str, RollFact]:
    """From HQDIR/roll.db's ``roll`` table (hq/roll.py)."""
    return {str(v): RollFact(int(d), str(s), parse_canonical(str(b)), str(st)) for v, d, s, b, st in conn.execute(
        "SELECT voter_id, district, sex, birth_date, status FROM roll")}


__all__ = ["ABSENTEE_STATES", "ABSENTEE_STATE_JA", "ABSENTEE_MOVES", "AbsenteeMoveRefused",
           "absentee_current", "next_absentee_state", "set_absentee_status", "absentee_notices",
           "RollFact", "Visit", "visits", "age_confirmations", "day_hourly", "early_by_hour", "turnout_by_age", "tohyoroku", "reconcile",
           "REPORTS", "build_report", "table_csv", "table_json", "events_of_kinds", "AbsenteeStore", "EventsStore", "roll_facts", "AGE_BANDS",
           "DEFAULT_REPORT_HOURS"]
