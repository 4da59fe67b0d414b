"""Election-day records at HQ: the figures the console shows and the office exports, built from
the ledger and what HQ staff recorded (alert workflow, contacts). Pure: no I/O, no Kivy, no
SQLite — the edge reads ``HqFacts`` from the store (``facts_from_store``) and hands them in.

What is counted, and how (the office must be able to explain every figure):
- a *ballot* of contest c is a check-in naming c whose state in the ledger is ``ballot``
  (handed over and neither withheld nor voided); a ``pending`` contest (HQ said ALREADY_VOTED and
  the terminal has not yet answered) is not counted;
- 名簿対照数 (``matched``) for a station, contest and hour H of a day is the number of ballots of
  that contest recorded at the station with a check-in time before H:00 that day: a running total
  from the station's first check-in of the day, the way stations report hourly;
- 交付数 (``issued``) is what the supervisor entered for that station, contest and hour (journal
  ``count`` events: contest, hour, issued); when several are entered (two terminals, or a
  correction) the latest by the terminal's clock wins;
- a difference (``issued - matched``) other than zero is flagged: in 蒲郡 2025 a double vote was
  found only because 名簿対照数 was one below the ballots issued;
- check-ins per hour (turnout) count check-in events that still hand at least one ballot; a
  不在者投票 recorded at HQ counts under the pseudo-station HQ (kind ``absentee``).
Times are Japan time from the event's hybrid logical clock (the terminal's wall clock).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Protocol, Sequence

from ground.clock import JST
from ground.events import Event, EventKind
from ground.hlc import wall_ms_of
from ground.model import HQ_TERMINAL, ElectionConfig, StationId, TerminalId, VoterId
from hq.ledger import BallotRef, CheckinRec, CState, Ledger

NONE_MARK = "—"
ALERT_STATE_JA = {"open": "未対応", "investigating": "調査中", "resolved": "解決"}
CSTATE_JA = {"ballot": "交付", "pending": "結果待ち", "withheld": "差止", "voided": "取消"}
KIND_JA = {"early": "期日前投票所", "common": "共通投票所", "day": "当日投票所", "absentee": "不在者投票（本部）",
           "": "不明"}
ALARM_REASON_JA = {"chain_fork": "記録の分岐（端末複製の疑い）", "changed_event": "記録の改変（端末複製の疑い）"}


class FactsStore(Protocol):
    """The part of ``HqStore`` the records read (duck-typed so this module imports no SQLite)."""

    def contacts(self) -> dict[str, tuple[float, str, str | None]]: ...

    def alert_states(self) -> dict[int, list[dict[str, Any]]]: ...

    def rollbacks(self) -> list[tuple[TerminalId, int, int, float]]: ...


@dataclass(frozen=True)
class HqFacts:
    """What HQ knows besides the ledger: read at the edge, passed in."""

    contacts: Mapping[str, tuple[float, str, str | None]] = field(default_factory=dict)
    alert_history: Mapping[int, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    revoked_reasons: Mapping[str, str] = field(default_factory=dict)
    online: frozenset[str] = frozenset()
    provisional_refs: frozenset[tuple[str, int]] = frozenset()  # (terminal, check-in seq) marked オフライン受付
    unacked_flags: Mapping[str, int] = field(default_factory=dict)  # per online terminal, when known
    # terminals that held acknowledged events HQ lacked (HQ restored from a backup): (terminal,
    # HQ's acked seq, the terminal's, unix time), HqStore.rollbacks
    rollbacks: Sequence[tuple[TerminalId, int, int, float]] = ()
    # which HQ node leads the store and since when (unix time), HqStore.leader; None: not known
    leader: tuple[str, float] | None = None


def facts_from_store(store: FactsStore, *, online: Iterable[str] = (), revoked_reasons: Mapping[str, str] | None = None,
                     provisional_refs: Iterable[tuple[str, int]] = (),
                     unacked_flags: Mapping[str, int] | None = None) -> HqFacts:
    return HqFacts(store.contacts(), store.alert_states(), dict(revoked_reasons or {}), frozenset(online),
                   frozenset(provisional_refs), dict(unacked_flags or {}), tuple(store.rollbacks()))


def hlc_dt(hlc: int) -> datetime:
    return datetime.fromtimestamp(wall_ms_of(hlc) / 1000, JST)


def _iso(dt: datetime | None) -> str:
    return dt.isoformat(timespec="seconds") if dt is not None else ""


def parse_signal(raw: str | None) -> tuple[str, str]:
    """(signal, carrier) as last reported by the terminal; ``—`` for what was not reported.

    The column holds whatever the terminal sent: a JSON object (``{"dbm": -85, "carrier": "…"}``)
    or plain text, which is shown as it is."""
    if raw is None or not str(raw).strip():
        return NONE_MARK, NONE_MARK
    try:
        obj = json.loads(raw)
    except ValueError:
        return str(raw).strip(), NONE_MARK
    if not isinstance(obj, dict):
        return str(raw).strip(), NONE_MARK
    sig = NONE_MARK
    for key, unit in (("dbm", " dBm"), ("rssi_dbm", " dBm"), ("rsrp", " dBm"), ("rssi", ""), ("csq", " (CSQ)"),
                      ("bars", "/5"), ("signal", "")):
        if obj.get(key) is not None:
            sig = f"{obj[key]}{unit}"
            break
    carrier = NONE_MARK
    for key in ("carrier", "operator", "network"):
        if obj.get(key):
            carrier = str(obj[key])
            break
    return sig, carrier


# --- station kinds --------------------------------------------------------------------------

def station_name(config: ElectionConfig, station: str) -> str:
    if station == "HQ":
        return "選挙管理委員会（本部）"
    try:
        return config.station(station).name
    except KeyError:
        return station


def station_kind(config: ElectionConfig, station: str) -> str:
    if station == "HQ":
        return "absentee"
    try:
        return config.station(station).kind.value
    except KeyError:
        return ""


# --- check-ins --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckinRow:
    at: str
    day: str
    hour: int
    station: StationId
    station_name: str
    kind: str
    terminal: TerminalId
    seq: int
    clerk: str
    voter: VoterId
    contest: str
    state: str  # ballot / pending / withheld / voided
    provisional: bool  # recorded offline (オフライン受付), or handed although HQ already held a ballot
    double: bool  # this ballot is one of two or more of the contest for the voter


def _is_provisional(rec: CheckinRec, facts: HqFacts, ledger: Ledger | None = None) -> bool:
    r = rec.ref_row
    key = (r[0], r[1])
    if key in facts.provisional_refs or key in getattr(ledger, "provisional_refs", ()):
        return True
    return rec.already_voted


def _ballot_count(ledger: Ledger, voter: VoterId, contest: str) -> int:
    return ledger.ballot_count(voter, contest)


def checkin_rows(ledger: Ledger, config: ElectionConfig, facts: HqFacts = HqFacts()) -> list[CheckinRow]:
    """One row per check-in and contest, in HQ's ingest order."""
    out: list[CheckinRow] = []
    for _, rec in ledger.checkins.reading():
        ref = rec.ref
        dt = hlc_dt(ref.hlc)
        prov = _is_provisional(rec, facts, ledger)
        states = rec.states()
        for c in rec.contests:
            st = states.get(c, CState.PENDING)
            out.append(CheckinRow(_iso(dt), dt.date().isoformat(), dt.hour, ref.station,
                                  station_name(config, ref.station), station_kind(config, ref.station),
                                  ref.terminal, ref.seq, ref.clerk, rec.voter, c, st.value, prov,
                                  st is CState.BALLOT and _ballot_count(ledger, rec.voter, c) >= 2))
    return out


# --- stations --------------------------------------------------------------------------------

@dataclass(frozen=True)
class StationRow:
    station: str
    station_name: str
    kind: str
    terminal: str  # "" for a station with no enrolled terminal
    online: bool
    last_contact: str  # ISO or ""
    events: int  # journal events HQ holds
    pending: int  # check-ins awaiting the terminal's answer to ALREADY_VOTED
    unacked_flags: int | None  # voted flags sent and not yet acknowledged (only while connected here)
    checkins_today: int
    checkins_total: int
    signal: str
    carrier: str
    revoked: bool
    revoked_reason: str
    alarmed: bool


def station_rows(ledger: Ledger, config: ElectionConfig, facts: HqFacts, day: date) -> list[StationRow]:
    today: dict[str, int] = {}
    total: dict[str, int] = {}
    pending: dict[str, int] = {}
    for (t, _), rec in ledger.checkins.reading():
        if not any(s is CState.BALLOT for s in rec.states().values()) and not any(
                s is CState.PENDING for s in rec.states().values()):
            continue  # withheld or voided: nobody voted here
        total[t] = total.get(t, 0) + 1
        if hlc_dt(rec.ref.hlc).date() == day:
            today[t] = today.get(t, 0) + 1
        if any(s is CState.PENDING for s in rec.states().values()):
            pending[t] = pending.get(t, 0) + 1
    return station_rows_from_counts(ledger, config, facts, pending, today, total)


def station_rows_from_counts(ledger: Ledger, config: ElectionConfig, facts: HqFacts, pending: Mapping[str, int],
                             today: Mapping[str, int], total: Mapping[str, int]) -> list[StationRow]:
    """One row per terminal (and per station without one) from per-terminal counts: the full
    rebuild above and the console's incremental view (ui_kivy/console/live.py) share it."""
    alarmed = {a.terminal for a in ledger.alarms}
    rows: list[StationRow] = []
    seen: set[str] = set()
    for t, ts in sorted(ledger.terminals.items(), key=lambda kv: (kv[1].station, kv[0])):
        if t == HQ_TERMINAL:
            continue
        seen.add(ts.station)
        c = facts.contacts.get(t)
        sig, carrier = parse_signal(c[2] if c else None)
        rows.append(StationRow(
            ts.station, station_name(config, ts.station), station_kind(config, ts.station), t, t in facts.online,
            _iso(datetime.fromtimestamp(c[0], JST)) if c else "", ts.acked_seq, pending.get(t, 0),
            facts.unacked_flags.get(t) if t in facts.online else None, today.get(t, 0), total.get(t, 0),
            sig, carrier, ts.revoked, facts.revoked_reasons.get(t, ""), ts.held or t in alarmed))
    for s in config.stations:
        if s.station_id not in seen:
            rows.append(StationRow(s.station_id, s.name, s.kind.value, "", False, "", 0, 0, None, 0, 0,
                                   NONE_MARK, NONE_MARK, False, "", False))
    rows.sort(key=lambda r: (r.station, r.terminal))
    return rows


# --- alerts ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class BallotSide:
    station: StationId
    station_name: str
    terminal: TerminalId
    seq: int
    clerk: str
    at: str
    provisional: bool


@dataclass(frozen=True)
class AlertAction:
    state: str
    who: str
    at: str
    note: str


@dataclass(frozen=True)
class AlertRow:
    alert_id: int
    voter: VoterId
    contest: str
    contest_name: str
    active: bool  # still two or more ballots (a void can end it)
    state: str  # open / investigating / resolved: the last action, "open" when none
    ballots: tuple[BallotSide, ...]
    history: tuple[AlertAction, ...]


def _side(ledger: Ledger, config: ElectionConfig, facts: HqFacts, b: BallotRef) -> BallotSide:
    rec = ledger.checkins.get((b.terminal, b.seq))
    prov = _is_provisional(rec, facts, ledger) if rec is not None else False
    return BallotSide(b.station, station_name(config, b.station), b.terminal, b.seq, b.clerk, _iso(hlc_dt(b.hlc)), prov)


def contest_name(config: ElectionConfig, contest: str) -> str:
    try:
        return config.contest(contest).name
    except KeyError:
        return contest


def alert_rows(ledger: Ledger, config: ElectionConfig, facts: HqFacts) -> list[AlertRow]:
    """Every double-vote alert, newest unresolved first (active and not resolved before the rest)."""
    rows = []
    for a in ledger.alert_log:
        hist = tuple(AlertAction(str(h["state"]), str(h["who"]), str(h["at"]), str(h.get("note", "")))
                     for h in facts.alert_history.get(a.alert_id, ()))
        rows.append(AlertRow(a.alert_id, a.voter, a.contest, contest_name(config, a.contest), a.active,
                             hist[-1].state if hist else "open",
                             tuple(_side(ledger, config, facts, b) for b in a.ballots), hist))
    rows.sort(key=lambda r: (r.state == "resolved" or not r.active, r.state != "open", -r.alert_id))
    return rows


@dataclass(frozen=True)
class AlarmRow:
    terminal: TerminalId
    station: StationId
    seq: int
    reason: str
    reason_ja: str


def alarm_rows(ledger: Ledger) -> list[AlarmRow]:
    return [AlarmRow(a.terminal, ledger.terminals[a.terminal].station if a.terminal in ledger.terminals else StationId(""),
                     a.seq, a.reason, ALARM_REASON_JA.get(a.reason, a.reason)) for a in ledger.alarms]


@dataclass(frozen=True)
class RefusalRow:
    """A check-in HQ kept as evidence but did not count (screen.py): shown beside the alarms."""

    terminal: TerminalId
    seq: int
    code: str
    voter: VoterId
    at: str
    message: str


@dataclass(frozen=True)
class RollbackRow:
    """本部の記録の巻き戻り: a terminal knew HQ had acknowledged more of its events than HQ holds."""

    terminal: TerminalId
    hq_acked: int
    terminal_acked: int
    at: str

    def message(self) -> str:
        return (f"本部の記録が巻き戻っています: 端末 {self.terminal} は {self.terminal_acked} 番まで本部の受領を確認して"
                f"いましたが、本部には {self.hq_acked} 番までしかありません（バックアップからの復元など）。"
                "端末からの再送を確認し、投票済情報は全端末に最初から配信し直しています")


def rollback_rows(facts: HqFacts) -> list[RollbackRow]:
    return [RollbackRow(t, hq, term, _iso(datetime.fromtimestamp(at, JST))) for t, hq, term, at in facts.rollbacks]


def refusal_rows(ledger: Ledger) -> list[RefusalRow]:
    return [RefusalRow(r.terminal, r.seq, r.code, r.voter, _iso(hlc_dt(r.hlc)), r.message()) for r in ledger.refusals]


# --- hourly 名簿対照数 vs 交付数 ---------------------------------------------------------------

@dataclass(frozen=True)
class HourlyRow:
    day: str
    hour: int
    station: str
    station_name: str
    contest: str
    matched: int  # 名簿対照数, running total before hour:00
    issued: int | None  # 交付数 as entered, None when not entered
    difference: int | None  # issued - matched

    @property
    def flagged(self) -> bool:
        return self.difference is not None and self.difference != 0


def _count_events(ledger: Ledger) -> dict[tuple[str, str, str, int], tuple[int, int]]:
    """(station, contest, day, hour) -> (hlc, issued) of the latest ``count`` entry."""
    out: dict[tuple[str, str, str, int], tuple[int, int]] = {}
    for ev in ledger.other_events:
        if ev.kind is not EventKind.COUNT:
            continue
        ts = ledger.terminals.get(ev.terminal)
        station = str(ev.data.get("station") or (ts.station if ts else ""))
        key = (station, str(ev.data["contest"]), hlc_dt(ev.hlc).date().isoformat(), int(ev.data["hour"]))
        prev = out.get(key)
        if prev is None or ev.hlc >= prev[0]:
            out[key] = (ev.hlc, int(ev.data["issued"]))
    return out


def hourly_rows(ledger: Ledger, config: ElectionConfig) -> list[HourlyRow]:
    """名簿対照数 vs 交付数 for every (station, contest, day, hour) a 交付数 was entered for."""
    counts = _count_events(ledger)
    if not counts:
        return []
    # ballot times per (station, contest, day): sorted minutes of day, for running totals
    times: dict[tuple[str, str, str], list[int]] = {}
    for _, rec in ledger.checkins.reading():
        ref = rec.ref
        dt = hlc_dt(ref.hlc)
        for c, st in rec.states().items():
            if st is CState.BALLOT:
                times.setdefault((ref.station, c, dt.date().isoformat()), []).append(dt.hour * 60 + dt.minute)
    rows = []
    for (station, contest, day, hour), (_, issued) in sorted(counts.items()):
        ts = times.get((station, contest, day), [])
        matched = sum(1 for m in ts if m < hour * 60)
        rows.append(HourlyRow(day, hour, station, station_name(config, station), contest, matched, issued,
                              issued - matched))
    return rows


# --- turnout ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Turnout:
    day: str
    hours: tuple[int, ...]  # the hours shown (opening to closing of the day's data, at least 7..20)
    by_station: dict[str, list[int]]  # station -> check-ins in each of ``hours``
    station_names: dict[str, str]
    by_kind_today: dict[str, int]
    by_kind_total: dict[str, int]
    total_today: int
    total: int


def _voter_checkins(ledger: Ledger) -> Iterable[CheckinRec]:
    for _, rec in ledger.checkins.reading():
        if any(s is CState.BALLOT for s in rec.states().values()):
            yield rec


def turnout(ledger: Ledger, config: ElectionConfig, day: date) -> Turnout:
    per: dict[str, dict[int, int]] = {}
    kind_today: dict[str, int] = {}
    kind_total: dict[str, int] = {}
    for rec in _voter_checkins(ledger):
        ref = rec.ref
        dt = hlc_dt(ref.hlc)
        k = station_kind(config, ref.station)
        kind_total[k] = kind_total.get(k, 0) + 1
        if dt.date() != day:
            continue
        kind_today[k] = kind_today.get(k, 0) + 1
        hours_of = per.setdefault(ref.station, {})
        hours_of[dt.hour] = hours_of.get(dt.hour, 0) + 1
    used = [h for hs in per.values() for h in hs]
    lo, hi = min([7, *used]), max([20, *used])
    hours = tuple(range(lo, hi + 1))
    stations = sorted(per)
    return Turnout(day.isoformat(), hours, {s: [per[s].get(h, 0) for h in hours] for s in stations},
                   {s: station_name(config, s) for s in stations}, kind_today, kind_total,
                   sum(kind_today.values()), sum(kind_total.values()))


# --- the whole console at one moment ---------------------------------------------------------

@dataclass(frozen=True)
class ConsoleData:
    election_id: str
    election_name: str
    at: str  # when this was built
    events: int
    stations: tuple[StationRow, ...]
    alerts: tuple[AlertRow, ...]
    alarms: tuple[AlarmRow, ...]
    hourly: tuple[HourlyRow, ...]
    turnout: Turnout
    contests: tuple[tuple[str, str], ...]  # (id, name)
    refusals: tuple[RefusalRow, ...] = ()  # check-ins HQ did not count (screen.py)
    rollbacks: tuple[RollbackRow, ...] = ()  # HQ went back in time
    leader: LeaderRow | None = None  # the HQ node leading the store, when one has claimed it


@dataclass(frozen=True)
class LeaderRow:
    node: str
    since: str  # ISO 8601, JST


def leader_row(facts: HqFacts) -> LeaderRow | None:
    """The leading node as the console shows it; None before any node claimed the store."""
    if facts.leader is None or not facts.leader[0]:
        return None
    node, since = facts.leader
    return LeaderRow(node, _iso(datetime.fromtimestamp(since, JST)))


def console_data(ledger: Ledger, config: ElectionConfig, facts: HqFacts, now: datetime) -> ConsoleData:
    return ConsoleData(config.election_id, config.name, _iso(now), ledger.order,
                       tuple(station_rows(ledger, config, facts, now.date())),
                       tuple(alert_rows(ledger, config, facts)), tuple(alarm_rows(ledger)),
                       tuple(hourly_rows(ledger, config)), turnout(ledger, config, now.date()),
                       tuple((c.contest_id, c.name) for c in config.contests), tuple(refusal_rows(ledger)),
                       tuple(rollback_rows(facts)), leader_row(facts))


# --- exports -----------------------------------------------------------------------------------

EXPORT_KINDS = ("checkins", "alerts", "stations", "hourly")


@dataclass(frozen=True)
class Table:
    """Rows for export: ``keys`` (English, JSON) and ``headers`` (Japanese, CSV) in one order."""

    keys: tuple[str, ...]
    headers: tuple[str, ...]
    rows: list[dict[str, Any]]

    def csv_rows(self) -> list[list[Any]]:
        """Cells for ``appliance.csvsafe``: numbers stay numbers, text (from peers too) is defused there."""
        def cell(v: Any) -> Any:
            if isinstance(v, bool):
                return "はい" if v else ""
            return v
        return [[cell(r[k]) for k in self.keys] for r in self.rows]


def _table(cols: Sequence[tuple[str, str]], rows: list[dict[str, Any]]) -> Table:
    return Table(tuple(k for k, _ in cols), tuple(h for _, h in cols), rows)


CHECKIN_COLUMNS = (("at", "受付日時"), ("station", "投票所ID"), ("station_name", "投票所名"), ("kind", "投票所種別"),
                   ("terminal", "端末ID"), ("seq", "受付番号"), ("clerk", "担当者"), ("voter", "選挙人番号"),
                   ("contest", "選挙"), ("state", "状態"), ("provisional", "オフライン受付"), ("double", "二重投票"))
ALERT_COLUMNS = (("alert_id", "警告番号"), ("voter", "選挙人番号"), ("contest", "選挙"), ("contest_name", "選挙名"),
                 ("state", "対応状況"), ("active", "未解消"), ("ballot_no", "交付順"), ("station", "投票所ID"),
                 ("station_name", "投票所名"), ("terminal", "端末ID"), ("seq", "受付番号"), ("clerk", "担当者"),
                 ("at", "受付日時"), ("provisional", "オフライン受付"), ("last_who", "最終対応者"),
                 ("last_at", "最終対応日時"), ("last_note", "対応メモ"))
STATION_COLUMNS = (("station", "投票所ID"), ("station_name", "投票所名"), ("kind", "投票所種別"), ("terminal", "端末ID"),
                   ("online", "接続中"), ("last_contact", "最終通信"), ("events", "受信記録数"), ("pending", "結果待ち"),
                   ("checkins_today", "本日受付数"), ("checkins_total", "累計受付数"), ("signal", "電波強度"),
                   ("carrier", "通信事業者"), ("revoked", "失効"), ("revoked_reason", "失効理由"), ("alarmed", "複製警報"))
HOURLY_COLUMNS = (("day", "日付"), ("hour", "時"), ("station", "投票所ID"), ("station_name", "投票所名"),
                  ("contest", "選挙"), ("matched", "名簿対照数"), ("issued", "交付数"), ("difference", "差（交付数−名簿対照数）"))


def export_table(what: str, ledger: Ledger, config: ElectionConfig, facts: HqFacts, day: date) -> Table:
    if what == "checkins":
        return _table(CHECKIN_COLUMNS, [asdict(r) for r in checkin_rows(ledger, config, facts)])
    if what == "stations":
        rows = [asdict(r) for r in station_rows(ledger, config, facts, day)]
        for r in rows:
            r["unacked_flags"] = r.pop("unacked_flags")
        return _table(STATION_COLUMNS, rows)
    if what == "hourly":
        return _table(HOURLY_COLUMNS, [asdict(r) for r in hourly_rows(ledger, config)])
    if what == "alerts":
        out = []
        for a in alert_rows(ledger, config, facts):
            last = a.history[-1] if a.history else None
            for i, b in enumerate(a.ballots, 1):
                out.append({"alert_id": a.alert_id, "voter": a.voter, "contest": a.contest,
                            "contest_name": a.contest_name, "state": a.state, "active": a.active, "ballot_no": i,
                            "station": b.station, "station_name": b.station_name, "terminal": b.terminal,
                            "seq": b.seq, "clerk": b.clerk, "at": b.at, "provisional": b.provisional,
                            "last_who": last.who if last else "", "last_at": last.at if last else "",
                            "last_note": last.note if last else "",
                            "history": [asdict(h) for h in a.history]})
        return _table(ALERT_COLUMNS, out)
    raise ValueError(what)


# --- the daily station report ------------------------------------------------------------------

@dataclass(frozen=True)
class DailyReport:
    day: str
    election_id: str
    election_name: str
    generated_at: str
    contests: tuple[tuple[str, str], ...]
    station_counts: list[dict[str, Any]]  # station, name, kind, checkins, ballots per contest
    turnout: Turnout
    hourly: list[HourlyRow]
    alerts: list[AlertRow]
    alarms: list[AlarmRow]
    totals_by_contest: dict[str, int]


def daily_report(ledger: Ledger, config: ElectionConfig, facts: HqFacts, day: date, now: datetime) -> DailyReport:
    per: dict[str, dict[str, Any]] = {}
    totals: dict[str, int] = {c.contest_id: 0 for c in config.contests}
    for _, rec in ledger.checkins.reading():
        ref = rec.ref
        if hlc_dt(ref.hlc).date() != day:
            continue
        ballots = [c for c, s in rec.states().items() if s is CState.BALLOT]
        row = per.setdefault(ref.station, {
            "station": ref.station, "name": station_name(config, ref.station),
            "kind": station_kind(config, ref.station), "checkins": 0, "voided": 0,
            "ballots": {c.contest_id: 0 for c in config.contests}})
        if ballots:
            row["checkins"] += 1
        if any(s is CState.VOIDED for s in rec.states().values()):
            row["voided"] += 1
        for c in ballots:
            row["ballots"][c] = row["ballots"].get(c, 0) + 1
            totals[c] = totals.get(c, 0) + 1
    alerts = [a for a in alert_rows(ledger, config, facts)
              if any(b.at[:10] == day.isoformat() for b in a.ballots) or a.state != "resolved"]
    return DailyReport(day.isoformat(), config.election_id, config.name, _iso(now),
                       tuple((c.contest_id, c.name) for c in config.contests),
                       [per[s] for s in sorted(per)], turnout(ledger, config, day),
                       [h for h in hourly_rows(ledger, config) if h.day == day.isoformat()], alerts,
                       alarm_rows(ledger), totals)


class RecordsLedger(Ledger):
    """The ledger, also remembering which check-ins the terminal marked オフライン受付.

    The plain ledger needs a ``provisional`` marker only to settle a pending contest; the records
    show it for every check-in ("provisional or not" beside each ballot of a double vote). Pass it
    as ``ledger_cls`` to ``HqNode`` / ``HqStore.load``: replay rebuilds it like everything else."""

    def __init__(self, election_id: str) -> None:
        super().__init__(election_id)
        self.provisional_refs: set[tuple[str, int]] = set()

    def _provisional(self, ev: Event) -> None:
        self.provisional_refs.add((ev.terminal, ev.ref))
        super()._provisional(ev)


__all__ = ["HqFacts", "facts_from_store", "ConsoleData", "console_data", "checkin_rows", "station_rows", "station_rows_from_counts",
           "alert_rows", "alarm_rows", "refusal_rows", "RefusalRow", "rollback_rows", "RollbackRow", "leader_row", "LeaderRow", "hourly_rows", "turnout", "export_table", "daily_report", "EXPORT_KINDS",
           "parse_signal", "Table", "DailyReport", "RecordsLedger"]
