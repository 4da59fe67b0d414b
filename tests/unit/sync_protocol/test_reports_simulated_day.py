"""Every figure of the reports reconciled against a simulated day with known numbers
(tests/unit/sync_protocol/reports_day.py says what happened)."""

from __future__ import annotations

import csv
import io
import json

from hq import procedures as H
from tests.unit.sync_protocol.reports_day import build, roll


def _rows(t: H.Table, **match: object) -> list[dict]:
    return [r for r in t.rows if all(r.get(k) == v for k, v in match.items())]


def test_day_hourly_by_district_and_sex_at_report_times() -> None:
    d = build()
    t = H.day_hourly(d.ledger, d.config, roll())
    got = {(r["district"], r["sex"]): (r["electors"], r["at_10"], r["at_11"], r["at_14"], r["at_16"], r["at_18"],
                                       r["total"]) for r in t.rows}
    assert got == {
        (1, "男"): (10, 1, 2, 2, 3, 3, 4),
        (1, "女"): (9, 1, 3, 4, 4, 5, 5),  # voter 20 抹消: 9 electors; 10:00 sharp is not before 10時
        (2, "男"): (10, 1, 1, 1, 2, 2, 2),
        (2, "女"): (10, 0, 0, 1, 1, 1, 1),
    }
    assert t.headers[4:] == ("10時現在", "11時現在", "14時現在", "16時現在", "18時現在", "最終")
    custom = H.day_hourly(d.ledger, d.config, roll(), hours=(12, 20))
    assert _rows(custom, district=1, sex="女")[0]["at_12"] == 3 and "20時現在" in custom.headers


def test_early_by_station_day_and_hour() -> None:
    d = build()
    t = H.early_by_hour(d.ledger, d.config)
    assert [(r["station"], r["day"], r["hour"], r["voters"], r["cumulative"]) for r in t.rows] == [
        ("E01", "2027-04-20", 9, 2, 2), ("E01", "2027-04-20", 13, 1, 3), ("E02", "2027-04-21", 10, 1, 1)]


def test_turnout_by_age_band() -> None:
    d = build()
    t = H.turnout_by_age(d.ledger, d.config, roll())
    got = {r["band"]: (r["electors"], r["voters"], r["turnout"]) for r in t.rows}
    assert got == {"18-19歳": (5, 3, 60.0), "20代": (5, 2, 40.0), "30代": (5, 2, 40.0), "40代": (4, 2, 50.0),
                   "50代": (5, 2, 40.0), "60代": (5, 2, 40.0), "70代": (5, 2, 40.0), "80歳以上": (5, 2, 40.0)}
    assert sum(r["voters"] for r in t.rows) == 17  # voter 1 voted early and was withheld on the day: once
    band18 = _rows(t, band="18-19歳")[0]
    assert (band18["male_voters"], band18["female_voters"], band18["female_turnout"]) == (3, 0, None)


def test_tohyoroku_per_station_and_contest() -> None:
    d = build()
    t = H.tohyoroku(d.ledger, d.config, d.events, roll())
    d01 = _rows(t, station="D01", contest="shu")[0]
    assert {k: d01[k] for k in ("voters_normal", "voters_early", "voters_absentee", "voters_total", "tentative",
                                "proxy", "braille", "received", "issued", "left", "matched", "issued_difference",
                                "stock_difference", "flagged")} == {
        "voters_normal": 8, "voters_early": 0, "voters_absentee": 0, "voters_total": 8, "tentative": 1, "proxy": 1,
        "braille": 1, "received": 100, "issued": 8, "left": 91, "matched": 8, "issued_difference": 0,
        "stock_difference": 1, "flagged": True}
    gov = _rows(t, station="D01", contest="governor")[0]
    assert (gov["voters_normal"], gov["tentative"], gov["issued"], gov["flagged"]) == (8, 0, None, False)
    d02 = _rows(t, station="D02", contest="shu")[0]
    assert (d02["voters_normal"], d02["voters_absentee"], d02["voters_total"]) == (2, 1, 3)
    assert _rows(t, station="C01", contest="shu")[0]["voters_normal"] == 2  # the withheld one is no ballot
    e01 = _rows(t, station="E01", contest="shu")[0]
    assert (e01["voters_early"], e01["proxy"]) == (3, 1)
    assert _rows(t, station="E02", contest="shu")[0]["voters_early"] == 1
    assert len(t.rows) == 5 * 4  # every station × every contest, even without voters
    with_override = H.tohyoroku(d.ledger, d.config, d.events, roll(), received={("D01", "shu"): 99})
    assert _rows(with_override, station="D01", contest="shu")[0]["stock_difference"] == 0


def test_reconcile_flags_every_difference() -> None:
    d = build()
    t = H.reconcile(d.ledger, d.config)
    got = [(r["station"], r["contest"], r["hour"], r["matched"], r["issued"], r["difference"], r["flagged"])
           for r in t.rows]
    assert got == [("D01", "shu", 10, 2, 3, 1, True), ("D01", "shu", 20, 8, 8, 0, False)]


def test_csv_has_bom_and_japanese_headers_json_parses_back() -> None:
    d = build()
    for what in H.REPORTS:
        t = H.build_report(what, d.ledger, d.config, d.events, roll())
        raw = H.table_csv(t)
        assert raw.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert tuple(rows[0]) == t.headers and len(rows) == len(t.rows) + 1
        back = json.loads(H.table_json(t, what, d.config.election_id))
        assert back["what"] == what and len(back["rows"]) == len(t.rows)
