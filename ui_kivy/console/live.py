"""The console's figures kept up to date event by event (incremental records). Pure: no Kivy,
no SQLite, no clock; the backend feeds it and asks it to build a ``ConsoleData``.

Why: ``records.console_data`` walks every check-in HQ holds (station rows, 名簿対照数, turnout);
once a second over millions of events (a prefecture-wide 同日選挙) that stalls the window. Here
each event is looked at once, in HQ's order (``hq_order``), and only the aggregates it touches
move; building the screen then costs terminals + alerts + hours, not events.

How a check-in is counted: what a check-in adds to the figures depends only on its own
``BallotRef`` (fixed) and on its contests' states (``ballot`` / ``pending`` / ``withheld`` /
``voided``, changed later by ``withheld``, ``provisional`` and ``void`` events). ``observe`` takes
one event, finds the check-in it is about, subtracts what that check-in was counted as so far and
adds what it is now (read from the ledger). It never trusts the event's own effect, so it is
right even when the ledger is already ahead of the event log (HQ applies before it commits): the
next event about the same check-in moves nothing. What was counted is remembered only when it is
not the usual "every contest a ballot" (a few double-vote attempts and voids, not millions).

Rules: events must be observed in HQ's order, each exactly once, and only after the ledger
applied them; a new ledger (HQ reloaded from disk) needs a new ``LiveRecords``. A property test
(tests/property/test_console_incremental_equals_rebuild.py) holds the result equal to
``records.console_data`` after any sequence of events and refreshes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping, NamedTuple

from ground.events import Event, EventKind
from ground.model import ElectionConfig
from hq.ledger import CState, Ledger
from hq.records import (ConsoleData, HourlyRow, HqFacts, StationRow, Turnout, _iso,
                                   alarm_rows, alert_rows, hlc_dt, leader_row, refusal_rows, rollback_rows, station_kind,
                                   station_name,
                                   station_rows_from_counts)

# event kinds whose ``ref`` names an earlier check-in whose state they change
_REF_KINDS = frozenset({EventKind.WITHHELD.value, EventKind.PROVISIONAL.value, EventKind.VOID.value})
_NEW_KINDS = frozenset({EventKind.CHECKIN.value, EventKind.ABSENTEE.value})
# kinds whose body the console must read (the others need only the stored columns)
BODY_KINDS = _REF_KINDS | {EventKind.COUNT.value}


class Change(NamedTuple):
    """One event as the console needs it: the stored columns, and ``data`` only for BODY_KINDS."""

    kind: str
    terminal: str
    seq: int
    hlc: int
    data: Mapping[str, Any]

    @classmethod
    def of(cls, ev: Event) -> "Change":
        return cls(ev.kind.value, ev.terminal, ev.seq, ev.hlc, ev.data if ev.kind.value in BODY_KINDS else {})


HourKey = tuple[str, str, str, int]  # (station, contest, day, hour) of the hourly table

# what one check-in adds: (contests it still hands as ballots, whether one is pending)
Mark = tuple[tuple[str, ...], bool]


class _Checkin(NamedTuple):
    """What the console reads of one check-in; ``states`` None: every contest is a ballot."""

    terminal: str
    seq: int
    station: str
    hlc: int
    contests: tuple[str, ...]
    states: Mapping[str, CState] | None


def _checkin(ledger: Ledger, key: tuple[str, int]) -> _Checkin | None:
    """Read a check-in without making the ledger keep anything for it: HQ holds a check-in whose
    contests were all first ballots as a lean row (``CheckinMap.raw``), and ``get`` would turn
    it into a kept ``CheckinRec`` (a million of them, for the console's sake alone)."""
    m: Any = ledger.checkins
    raw = getattr(m, "raw", None)
    v = raw(key) if raw is not None else m.get(key)
    if v is None:
        return None
    if type(v) is tuple:  # (voter, ref row, contests): nothing changed since it was applied
        ref = m.ref_of(key)
        return _Checkin(key[0], key[1], ref.station, ref.hlc, tuple(v[2]), None)
    ref = v.ref
    states = v.states() if hasattr(v, "states") else v.state
    return _Checkin(key[0], key[1], ref.station, ref.hlc, tuple(v.contests), states)


def _mark(rec: _Checkin) -> Mark:
    if rec.states is None:
        return rec.contests, False
    ballots = tuple(c for c in rec.contests if rec.states.get(c) is CState.BALLOT)
    return ballots, any(s is CState.PENDING for s in rec.states.values())


def _usual(rec: _Checkin) -> Mark:
    return rec.contests, False


def _bump(d: dict[Any, int], key: Any, by: int) -> None:
    n = d.get(key, 0) + by
    if n:
        d[key] = n
    else:  # a full rebuild has no key for a zero: neither may we
        d.pop(key, None)


@dataclass
class _When:
    day: date
    day_iso: str
    hour: int


class LiveRecords:
    def __init__(self, config: ElectionConfig) -> None:
        self.config = config
        self.observed = 0  # events looked at (the backend's cursor is its own ``hq_order``)
        self._counted: dict[tuple[str, int], Mark] = {}  # only marks other than ``_usual``
        self._kinds: dict[str, str] = {}
        self._names: dict[str, str] = {}
        # per terminal: check-ins that hand or await a ballot, by day; pending ones
        self.term_total: dict[str, int] = {}
        self.term_day: dict[tuple[str, date], int] = {}
        self.term_pending: dict[str, int] = {}
        # turnout: check-ins handing at least one ballot, by day (only today's are read to build)
        self.kind_total: dict[str, int] = {}
        self.kind_day: dict[date, dict[str, int]] = {}
        self.turnout_cells: dict[date, dict[tuple[str, int], int]] = {}  # day -> (station, hour)
        # ballots per (station, contest, day, hour): 名簿対照数 is the sum over earlier hours
        self.ballot_cells: dict[tuple[str, str, str, int], int] = {}
        # 交付数 entries: (station-or-"", terminal, contest, day, hour) -> (hlc, observed, issued); the
        # latest by terminal clock wins, and on a tie the later in HQ's order (as records does)
        self.counts: dict[tuple[str, str, str, str, int], tuple[int, int, int]] = {}
        # the rows of the hourly table, kept between builds: a station-less entry counts for its
        # terminal's station (``_count_station`` remembers which, in case the registry moves it);
        # only the (station, contest, day) groups touched since the last build are recomputed
        self._count_best: dict[HourKey, tuple[int, int, int]] = {}
        self._count_station: dict[str, str] = {}
        self._hours_of: dict[tuple[str, str, str], set[int]] = {}
        self._hour_rows: dict[HourKey, HourlyRow] = {}
        self._hourly_dirty: set[tuple[str, str, str]] = set()
        self._hourly_keys: list[HourKey] = []
        self._hourly_out: tuple[HourlyRow, ...] = ()
        self._hourly_new_keys = False

    # --- feeding --------------------------------------------------------------------------
    def observe(self, ledger: Ledger, ch: Change) -> None:
        self.observed += 1
        if ch.kind in _NEW_KINDS:
            rec = _checkin(ledger, (ch.terminal, ch.seq))
            if rec is not None:
                self._recount(rec, None)
        elif ch.kind in _REF_KINDS:
            ref = int(ch.data["ref"])
            key = (ch.terminal, ref)
            # The ledger ignored a marker whose check-in it did not hold when it applied it. A ref
            # at or after the marker's own seq was not applied yet then (a terminal's events
            # apply in seq order), even if the ledger, being ahead, holds that check-in now.
            rec = _checkin(ledger, key) if ref < ch.seq else None
            if rec is not None:
                self._recount(rec, self._counted.get(key, _usual(rec)))
        elif ch.kind == EventKind.COUNT.value:
            d = ch.data
            ckey = (str(d.get("station") or ""), ch.terminal, str(d["contest"]),
                    hlc_dt(ch.hlc).date().isoformat(), int(d["hour"]))
            prev = self.counts.get(ckey)
            if prev is None or ch.hlc >= prev[0]:
                entry = self.counts[ckey] = (ch.hlc, self.observed, int(d["issued"]))
                self._resolve(ledger, ckey, entry)

    def _resolve(self, ledger: Ledger, ckey: tuple[str, str, str, str, int], entry: tuple[int, int, int]) -> None:
        station, terminal, contest, day_iso, hour = ckey
        if not station:
            ts = ledger.terminals.get(terminal)
            station = ts.station if ts else ""
            self._count_station.setdefault(terminal, station)
        key = (station, contest, day_iso, hour)
        prev = self._count_best.get(key)
        if prev is None or entry[:2] > prev[:2]:
            self._count_best[key] = entry
            group = (station, contest, day_iso)
            hours = self._hours_of.setdefault(group, set())
            if hour not in hours:
                hours.add(hour)
                self._hourly_new_keys = True
            self._hourly_dirty.add(group)

    def _recount(self, rec: _Checkin, before: Mark | None) -> None:
        now = _mark(rec)
        if now == before:
            return
        key = (rec.terminal, rec.seq)
        when = self._when(rec.hlc)
        if before is not None:
            self._add(rec, before, when, -1)
        self._add(rec, now, when, +1)
        if now == _usual(rec):
            self._counted.pop(key, None)
        else:
            self._counted[key] = now

    @staticmethod
    def _when(hlc: int) -> _When:
        dt = hlc_dt(hlc)
        d = dt.date()
        return _When(d, d.isoformat(), dt.hour)

    def _kind(self, station: str) -> str:
        k = self._kinds.get(station)
        if k is None:
            k = self._kinds[station] = station_kind(self.config, station)
        return k

    def _name(self, station: str) -> str:
        n = self._names.get(station)
        if n is None:
            n = self._names[station] = station_name(self.config, station)
        return n

    def _add(self, rec: _Checkin, mark: Mark, when: _When, by: int) -> None:
        ballots, pending = mark
        t, s = rec.terminal, rec.station
        if ballots or pending:
            _bump(self.term_total, t, by)
            _bump(self.term_day, (t, when.day), by)
        if pending:
            _bump(self.term_pending, t, by)
        if ballots:
            k = self._kind(s)
            _bump(self.kind_total, k, by)
            _bump(self.kind_day.setdefault(when.day, {}), k, by)
            _bump(self.turnout_cells.setdefault(when.day, {}), (s, when.hour), by)
        for c in ballots:
            _bump(self.ballot_cells, (s, c, when.day_iso, when.hour), by)
            self._hourly_dirty.add((s, c, when.day_iso))

    # --- building the screen ----------------------------------------------------------------
    def build(self, ledger: Ledger, facts: HqFacts, now: datetime) -> ConsoleData:
        """The same ``ConsoleData`` as ``records.console_data(ledger, config, facts, now)``."""
        cfg = self.config
        day = now.date()
        return ConsoleData(cfg.election_id, cfg.name, _iso(now), ledger.order,
                           tuple(self._stations(ledger, facts, day)), tuple(alert_rows(ledger, cfg, facts)),
                           tuple(alarm_rows(ledger)), self._hourly(ledger), self._turnout(day),
                           tuple((c.contest_id, c.name) for c in cfg.contests), tuple(refusal_rows(ledger)),
                           tuple(rollback_rows(facts)), leader_row(facts))

    def _stations(self, ledger: Ledger, facts: HqFacts, day: date) -> list[StationRow]:
        today = {t: n for (t, d), n in self.term_day.items() if d == day}
        return station_rows_from_counts(ledger, self.config, facts, self.term_pending, today, self.term_total)

    def _hourly(self, ledger: Ledger) -> tuple[HourlyRow, ...]:
        moved = [t for t, s in self._count_station.items()
                 if (ledger.terminals[t].station if t in ledger.terminals else "") != s]
        if moved:  # the registry moved a terminal to another station: resolve every entry again
            self._count_best, self._count_station, self._hours_of = {}, {}, {}
            self._hour_rows, self._hourly_new_keys = {}, True
            for ckey, entry in self.counts.items():
                self._resolve(ledger, ckey, entry)
        dirty = [g for g in self._hourly_dirty if g in self._hours_of]
        self._hourly_dirty = set()
        for station, contest, day_iso in dirty:
            before = [0] * 25  # before[h]: ballots recorded before h:00
            for h in range(24):
                before[h + 1] = before[h] + self.ballot_cells.get((station, contest, day_iso, h), 0)
            for hour in self._hours_of[(station, contest, day_iso)]:
                issued = self._count_best[(station, contest, day_iso, hour)][2]
                matched = before[max(0, min(hour, 24))]
                self._hour_rows[(station, contest, day_iso, hour)] = HourlyRow(
                    day_iso, hour, station, self._name(station), contest, matched, issued, issued - matched)
        if self._hourly_new_keys:
            self._hourly_keys = sorted(self._hour_rows)
            self._hourly_new_keys = False
        if dirty or moved:
            self._hourly_out = tuple(self._hour_rows[k] for k in self._hourly_keys)
        return self._hourly_out

    def _turnout(self, day: date) -> Turnout:
        per: dict[str, dict[int, int]] = {}
        for (s, h), n in self.turnout_cells.get(day, {}).items():
            per.setdefault(s, {})[h] = n
        kind_today = dict(self.kind_day.get(day, {}))
        used = [h for hs in per.values() for h in hs]
        lo, hi = min([7, *used]), max([20, *used])
        hours = tuple(range(lo, hi + 1))
        stations = sorted(per)
        return Turnout(day.isoformat(), hours, {s: [per[s].get(h, 0) for h in hours] for s in stations},
                       {s: self._name(s) for s in stations}, kind_today, dict(self.kind_total),
                       sum(kind_today.values()), sum(self.kind_total.values()))


__all__ = ["LiveRecords", "Change", "BODY_KINDS"]
