"""meibo hq export / daily-report on a real HQDIR (hq init, events committed to hq.db): CSV read
back with utf-8-sig (BOM, Japanese headers), JSON with English keys, the PDF read by pdftotext."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from cli.base import Cli
from cli.main import GROUP_HELP
from ground.clock import JST, FixedClock
from hq.terminals import hq_init
from appliance.dirs import HqDir, write_atomic
from ground.errors import MeiboError
from ground.events import Event, EventKind
from ground.hlc import pack
from ground.model import TerminalId
from hq.store import HqStore
from tests.builders import election_toml
from cli import console as console_commands

DAY = datetime(2027, 4, 25, tzinfo=JST)


def _ev(t: str, seq: int, kind: EventKind, h: int, m: int, data: dict) -> Event:
    return Event(kind, seq, pack(int(DAY.replace(hour=h, minute=m).timestamp() * 1000), 0), TerminalId(t), data)


@pytest.fixture(scope="module")
def hqdir(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("hq")
    cfg = tmp / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq = HqDir(tmp / "hq")
    hq_init(hq.root, cfg, FixedClock(DAY))
    write_atomic(hq.root / "terminals.json", json.dumps([
        {"terminal": "T1", "station": "D01", "device_pub": "00" * 32},
        {"terminal": "T2", "station": "C01", "device_pub": "00" * 32}]).encode())
    store = HqStore(hq)
    c = {"clerk": "係1"}
    store.commit([
        _ev("T1", 1, EventKind.CHECKIN, 9, 0, {"station": "D01", "voter": "100001", "contests": ["governor"], **c}),
        _ev("T1", 2, EventKind.COUNT, 10, 1, {"contest": "governor", "hour": 10, "issued": 2}),
        _ev("T2", 1, EventKind.CHECKIN, 9, 30, {"station": "C01", "voter": "100001", "contests": ["governor"], **c}),
        _ev("T2", 2, EventKind.PROVISIONAL, 9, 30, {"ref": 1}),
    ])
    store.set_alert_state(1, "resolved", "選管 佐藤", "2027-04-25T10:00:00+09:00", "本人に確認済み")
    store.close()
    return hq.root


def run(argv: list[str]):
    parser = argparse.ArgumentParser(prog="meibo")
    cli = Cli(parser, parser.add_subparsers(dest="cmd", required=True))
    for g, h in GROUP_HELP.items():
        cli.group(g, h)
    console_commands.register(cli)
    args = parser.parse_args(argv)
    return args.func(args)


def test_checkins_csv_has_bom_japanese_headers_and_one_row_per_contest(hqdir, tmp_path):
    out = tmp_path / "checkins.csv"
    res = run(["hq", "export", str(hqdir), "--what", "checkins", "--format", "csv", "--out", str(out)])
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
    assert res.data["rows"] == len(rows) == 2
    assert rows[0]["選挙人番号"] == "100001" and rows[0]["投票所名"] == "本町小学校"
    assert [r["二重投票"] for r in rows] == ["はい", "はい"]
    assert [r["オフライン受付"] for r in rows] == ["", "はい"]


def test_alerts_json_has_english_keys_both_ballots_and_the_resolution(hqdir, tmp_path):
    out = tmp_path / "alerts.json"
    run(["hq", "export", str(hqdir), "--what", "alerts", "--format", "json", "--out", str(out)])
    doc = json.loads(out.read_text("utf-8"))
    assert doc["what"] == "alerts" and len(doc["rows"]) == 2
    assert {r["station"] for r in doc["rows"]} == {"D01", "C01"}
    assert doc["rows"][0]["state"] == "resolved" and doc["rows"][0]["last_who"] == "選管 佐藤"
    assert doc["rows"][0]["history"][0]["note"] == "本人に確認済み"


def test_hourly_and_stations_csv_parse_back(hqdir, tmp_path):
    out = tmp_path / "hourly.csv"
    run(["hq", "export", str(hqdir), "--what", "hourly", "--out", str(out)])
    [row] = list(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
    assert (row["名簿対照数"], row["交付数"], row["差（交付数−名簿対照数）"]) == ("1", "2", "1")
    out2 = tmp_path / "stations.csv"
    run(["hq", "export", str(hqdir), "--what", "stations", "--out", str(out2), "--date", "2027-04-25"])
    rows = list(csv.DictReader(out2.open(encoding="utf-8-sig", newline="")))
    by = {(r["投票所ID"], r["端末ID"]): r for r in rows}
    assert by[("D01", "T1")]["本日受付数"] == "1" and by[("D01", "T1")]["電波強度"] == "—"
    assert ("E01", "") in by  # a station with no terminal is listed


def test_bad_date_is_refused_and_writes_nothing(hqdir, tmp_path):
    out = tmp_path / "x.csv"
    with pytest.raises(MeiboError) as e:
        run(["hq", "export", str(hqdir), "--what", "hourly", "--out", str(out), "--date", "2027-02-30"])
    assert e.value.code == "bad_date" and not out.exists()


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_daily_report_pdf_has_japanese_text(hqdir, tmp_path):
    out = tmp_path / "day.pdf"
    res = run(["hq", "daily-report", str(hqdir), "--out", str(out), "--date", "2027-04-25",
               "--now", "2027-04-25T21:00"])
    assert res.data["count_differences"] == 1 and res.data["alerts"] == 1
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    for want in ("投票所日報", "本町小学校", "名簿対照数", "交付数", "神奈川県知事選挙", "本人に確認済み",
                 "オフライン受付（仮）"):
        assert want in text, want
