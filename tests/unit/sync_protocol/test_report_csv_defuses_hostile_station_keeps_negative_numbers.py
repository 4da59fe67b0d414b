"""`meibo hq report --format csv`: a station id a terminal put in its events that starts like a
formula is written with a leading '; the differences meibo computes stay numbers, -1 included."""

from __future__ import annotations

import csv
import io

from ground.events import EventKind
from hq import procedures as H
from tests.unit.sync_protocol.reports_day import at, build, roll

EVIL = '=HYPERLINK("http://evil.example/","開く")'


def _cells(t: H.Table) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(H.table_csv(t).decode("utf-8-sig"))))
    return [dict(zip(t.keys, r)) for r in rows[1:]]


def test_tohyoroku_csv_defuses_a_station_claimed_by_a_terminal() -> None:
    d = build()
    d.emit("TD2", EventKind.TENTATIVE, at(4, 25, 15, 0), {"station": EVIL, "voter": "26", "contests": ["shu"],
                                                         "reason": "claims_not_voted", "decided_by": "管理者"})
    d.emit("TD2", EventKind.COUNT, at(4, 25, 20, 5), {"contest": "shu", "hour": 20, "issued": 1})
    t = H.build_report("tohyoroku", d.ledger, d.config, d.events, roll())
    cells = _cells(t)
    evil = [c for c in cells if c["tentative"] == "1" and c["station"] != "D01"]
    assert [(c["station"], c["station_name"]) for c in evil] == [("'" + EVIL, "'" + EVIL)]
    d02 = [c for c in cells if c["station"] == "D02" and c["contest"] == "shu"][0]
    assert d02["issued_difference"] == "-1"  # issued 1, matched 2: a number meibo computed, not defused


def test_reconcile_csv_keeps_a_negative_difference_a_number() -> None:
    d = build()
    d.emit("TD2", EventKind.COUNT, at(4, 25, 20, 5), {"contest": "shu", "hour": 20, "issued": 1})
    t = H.build_report("reconcile", d.ledger, d.config, d.events, roll())
    d02 = [c for c in _cells(t) if c["station"] == "D02"]
    assert [(c["matched"], c["issued"], c["difference"], c["flagged"]) for c in d02] == [("2", "1", "-1", "はい")]
