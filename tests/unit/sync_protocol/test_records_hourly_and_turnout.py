"""records: 名簿対照数 vs 交付数 (withheld and voided ballots are not counted), turnout per hour,
station rows and alerts side by side, on a ledger fed real journal events."""

from __future__ import annotations

from datetime import datetime

from ground.clock import JST
from ground.events import EventKind
from hq import records
from ui_kivy.console.demo import EventMaker, demo_config
from hq.records import HqFacts, RecordsLedger

DAY = datetime(2027, 4, 25, tzinfo=JST)


def at(h: int, m: int = 0) -> datetime:
    return DAY.replace(hour=h, minute=m)


def _ledger() -> tuple[RecordsLedger, EventMaker]:
    ledger = RecordsLedger("yokohama-2027")
    mk = EventMaker(ledger)
    mk.terminal("T1", "D01")
    mk.terminal("T2", "C01")
    return ledger, mk


def test_matched_counts_ballots_before_the_hour_minus_withheld_and_voided():
    ledger, mk = _ledger()
    mk.checkin("T1", "D01", "1", at(9, 10), ["shu", "governor"])
    v = mk.checkin("T1", "D01", "2", at(9, 20), ["shu", "governor"])
    mk.emit("T1", EventKind.VOID, at(9, 21), {"ref": v.seq, "reason": "人違い"})
    mk.checkin("T2", "C01", "1", at(9, 30), ["shu", "governor"])  # second ballot: HQ says ALREADY_VOTED
    mk.emit("T2", EventKind.WITHHELD, at(9, 30), {"ref": 3, "contests": ["shu", "governor"]})
    mk.checkin("T1", "D01", "3", at(10, 0), ["shu"])  # at 10:00 exactly: not before 10時
    mk.count("T1", at(10, 1), "shu", 10, 1)
    mk.count("T1", at(10, 2), "governor", 10, 2)  # one more than recorded: flagged
    mk.count("T1", at(10, 5), "governor", 10, 1)  # corrected entry: the latest wins
    mk.count("T2", at(10, 3), "shu", 10, 0)
    rows = {(h.station, h.contest): h for h in records.hourly_rows(ledger, demo_config())}
    assert rows[("D01", "shu")].matched == 1 and rows[("D01", "shu")].difference == 0
    assert rows[("D01", "governor")].issued == 1 and not rows[("D01", "governor")].flagged
    assert rows[("C01", "shu")].matched == 0 and rows[("C01", "shu")].difference == 0


def test_difference_is_flagged_with_its_sign():
    ledger, mk = _ledger()
    mk.checkin("T1", "D01", "1", at(8, 10), ["shu"])
    mk.count("T1", at(9, 0), "shu", 9, 2)
    [row] = records.hourly_rows(ledger, demo_config())
    assert (row.matched, row.issued, row.difference, row.flagged) == (1, 2, 1, True)


def test_turnout_per_hour_and_totals_by_kind():
    ledger, mk = _ledger()
    mk.checkin("T1", "D01", "1", at(7, 5), ["shu"])
    mk.checkin("T1", "D01", "2", at(7, 50), ["shu"])
    mk.checkin("T2", "C01", "3", at(12, 0), ["shu"])
    mk.checkin("T2", "C01", "4", DAY.replace(day=24, hour=12), ["shu"])  # another day: total only
    t = records.turnout(ledger, demo_config(), DAY.date())
    assert t.hours[0] == 7 and t.hours[-1] == 20
    assert t.by_station["D01"][0] == 2 and t.by_station["C01"][t.hours.index(12)] == 1
    assert t.by_kind_today == {"day": 2, "common": 1}
    assert t.by_kind_total == {"day": 2, "common": 2}
    assert (t.total_today, t.total) == (3, 4)


def test_alert_shows_both_ballots_with_provisional_marks_and_history_order():
    ledger, mk = _ledger()
    mk.checkin("T1", "D01", "9", at(9), ["governor"], clerk="k1")
    ev = mk.checkin("T2", "C01", "9", at(9, 30), ["governor"], clerk="k2")
    mk.emit("T2", EventKind.PROVISIONAL, at(9, 30), {"ref": ev.seq})
    facts = HqFacts(alert_history={1: [{"state": "investigating", "who": "佐藤", "at": "2027-04-25T09:40:00+09:00",
                                        "note": "確認中"}]})
    [a] = records.alert_rows(ledger, demo_config(), facts)
    assert a.state == "investigating" and a.active
    assert [(b.station, b.clerk, b.provisional) for b in a.ballots] == [("D01", "k1", False), ("C01", "k2", True)]
    assert a.contest_name == "神奈川県知事選挙"


def test_station_rows_list_stations_without_terminals_and_signal_as_reported():
    ledger, mk = _ledger()
    mk.checkin("T1", "D01", "1", at(9), ["shu"])
    facts = HqFacts(contacts={"T1": (at(9, 5).timestamp(), "10.0.0.2", '{"dbm": -90, "carrier": "KDDI"}'),
                              "T2": (at(9, 5).timestamp(), "10.0.0.3", "RSSI 18")},
                    online=frozenset({"T1"}))
    rows = {(r.station, r.terminal): r for r in records.station_rows(ledger, demo_config(), facts, DAY.date())}
    assert rows[("D01", "T1")].online and rows[("D01", "T1")].checkins_today == 1
    assert (rows[("D01", "T1")].signal, rows[("D01", "T1")].carrier) == ("-90 dBm", "KDDI")
    assert (rows[("C01", "T2")].signal, rows[("C01", "T2")].carrier) == ("RSSI 18", "—")
    assert rows[("D02", "")].terminal == "" and rows[("E01", "")].signal == "—"


def test_parse_signal_shows_what_is_there():
    assert records.parse_signal(None) == ("—", "—")
    assert records.parse_signal('{"csq": 17, "operator": "SoftBank"}') == ("17 (CSQ)", "SoftBank")
    assert records.parse_signal("[1,2]") == ("[1,2]", "—")
