"""Paper backup: a PDF roll extract for a day station (its 投票区) and an early station (every
voter), with 投票済 marks per contest as of a stated time; pdftotext finds the voters and marks."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from cli.main import main
from ground.clock import JST
from hq import paper_backup as PB
from tests.unit.sync_protocol.hq_day_dir import hq_with_day
from tests.unit.sync_protocol.reports_day import build

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None or not PB.DEFAULT_FONT.exists(),
                                reason="poppler-utils and fonts-ipaexfont-gothic are needed")


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_marks_as_of_a_stated_time() -> None:
    d = build()
    noon = PB.marks_as_of(d.ledger, datetime(2027, 4, 25, 12, 0, tzinfo=JST))
    assert noon[("7", "shu")] == "D01" and ("8", "shu") not in noon  # voter 8 came at 13:00
    assert noon[("22", "governor")] == "HQ" and ("13", "shu") not in noon  # 不在者 counts; voided does not
    assert noon[("1", "shu")] == "E01"  # the early ballot, not the withheld one


def test_day_station_extract_pdf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hq, _ = hq_with_day(tmp_path)
    out = tmp_path / "d01.pdf"
    rc = main(["hq", "paper-backup", str(hq.root), "--station", "D01", "--out", str(out),
               "--as-of", "2027-04-25T12:00", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["district"] == 1 and res["voters"] == 20 and res["voted"] == 8  # 1,2,3 early + 4..7 + 12
    text = _text(out)
    assert "選挙人名簿抄本" in text and "本町小学校" in text and "2027年04月25日 12:00 現在" in text
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln.strip() and ln.split()[0].isdigit()}
    assert "選挙人07" in lines["7"] and "済(D01)" in lines["7"]
    assert "選挙人01" in lines["1"] and "済(E01)" in lines["1"]
    assert "済" not in lines["8"] and "済" not in lines["13"]
    assert "21" not in lines  # 投票区 2 is not on D01's extract
    with pytest.raises(Exception):
        PB.build_extract(build().config, "D01", [], build().ledger, datetime.now(JST), district=2)


def test_early_station_whole_roll_and_district_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hq, _ = hq_with_day(tmp_path)
    out = tmp_path / "e01.pdf"
    assert main(["hq", "paper-backup", str(hq.root), "--station", "E01", "--district", "2", "--out", str(out),
                 "--as-of", "2027-04-25T20:30", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["voters"] == 20 and res["voted"] == 5  # 21 early, 22 不在者, 23 24 25 on the day
    text = _text(out)
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln.strip() and ln.split()[0].isdigit()}
    assert "済(不在)" in lines["22"] and "済(C01)" in lines["25"] and "抹消" not in lines["22"]
