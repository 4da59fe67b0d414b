"""The rehearsal report PDF says 試験 on every page and each step's expected, seen and PASS/FAIL;
the ゼロ確認書 names the genesis hash and every check. pdftotext reads them back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.rehearsal import RunReport
from appliance.rehearsal_pdf import DEFAULT_FONT, render_proof, render_report

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None or not DEFAULT_FONT.exists(),
                                reason="poppler-utils and fonts-ipaexfont-gothic are needed")


def _pages(pdf: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return [p for p in out.split("\f") if p.strip()]


def test_every_page_of_a_long_report_is_marked_and_fail_is_shown(tmp_path: Path) -> None:
    rep = RunReport("T01", "E01", "city-2027.rehearsal", "2027-04-10T10:00:00+09:00")
    for i in range(60):  # enough steps for several pages
        rep.add(f"手順{i:02d}", f"期待{i:02d}", f"結果{i:02d}", i != 7)
    assert rep.verdict == "FAIL"
    pages = render_report(rep.as_dict(), tmp_path / "r.pdf")
    texts = _pages(tmp_path / "r.pdf")
    assert pages >= 2 and len(texts) == pages
    assert all("試験" in t for t in texts)  # a page found alone cannot pass for a real record
    whole = "\n".join(texts)
    assert "総合判定: FAIL" in whole
    row = next(line for line in whole.splitlines() if "手順07" in line)
    assert "期待07" in row and "結果07" in row and "FAIL" in row


def test_zero_proof_names_genesis_and_each_check(tmp_path: Path) -> None:
    proof = {"verdict": "PASS_UNCONFIRMED", "terminal": "T01", "station": "E01", "election": "city-2027",
             "rehearsal": "city-2027.rehearsal", "rehearsal_started_at": "2027-04-10T10:00:00+09:00",
             "finished_at": "2027-04-10T11:00:00+09:00", "journal_head_seq": 0,
             "journal_head_hash": "ab" * 32, "genesis_hash": "ab" * 32, "destroyed": ["a", "b"],
             "checks": [{"name": "本番の受付記録", "expected": "0 件", "seen": "0 件", "result": "PASS"},
                        {"name": "名簿・選挙の版が本部と一致", "expected": "本部の版", "seen": "未確認: 本部に接続できません",
                         "result": "未確認"}]}
    assert render_proof(proof, tmp_path / "z.pdf") == 1
    text = "\n".join(_pages(tmp_path / "z.pdf"))
    assert "ゼロ確認書" in text and "確認済（一部未確認）" in text and "ab" * 32 in text.replace("\n", "").replace(" ", "")
    assert "本番の受付記録" in text and "未確認" in text and "署名" in text
