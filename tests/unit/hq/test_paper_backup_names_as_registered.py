"""The paper backup prints names as registered (issue 19): an IVS name with its variant glyph (pixels
differ from the base character's; a selector naming the font's default glyph prints as the base), a
外字 as 〓 with the kana, and the PDF's text layer gives the IVS name back byte for byte. The page
numbers ({nb}) survive the shaping that the IVS cell turns on."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from ground.birthdate import BirthDate
from ground.clock import JST
from ground.errors import UsageError
from ground.names import GAIJI_MARK, NAME_FONT_CANDIDATES
from hq import paper_backup as PB

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None or not PB.DEFAULT_FONT.exists()
                                or not Path(NAME_FONT_CANDIDATES[0]).exists(),
                                reason="poppler-utils, fonts-ipaexfont-gothic and fonts-ipamj-mincho are needed")

NOT_IN_FONT = PB.RollRow("0000000003", 1, "山田 \U0001F600", "ヤマダ エミ", BirthDate(1960, 5, 6), "F", "横浜市中区1-3",
                         "registered")  # a character IPAmj明朝 cannot draw: 〓 too, never a box
GAIJI = PB.RollRow("0000000002", 1, "山\ue000 花子", "ヤマザキ ハナコ", BirthDate(1950, 2, 3), "F", "横浜市中区1-2", "registered")


def extract(name: str) -> PB.Extract:
    row = PB.RollRow("0000000001", 1, name, "カツラギ イチロウ", BirthDate(1945), "M", "横浜市中区1-1", "registered")
    return PB.Extract("yokohama-2027", "同日選挙", "D01", "本町小学校", 1, datetime(2027, 4, 25, 8, 0, tzinfo=JST),
                      (("shu", "衆議院"),), (PB.ExtractRow(row, ("",)), PB.ExtractRow(GAIJI, ("済(E01)",)),
                       PB.ExtractRow(NOT_IN_FONT, ("",))))


def render(tmp: Path, name: str) -> tuple[bytes, str]:
    out = tmp / f"{len(list(tmp.glob('*.pdf')))}.pdf"
    assert PB.render_pdf(extract(name), out) == 1
    px = subprocess.run(["pdftoppm", "-r", "50", "-gray", str(out)], check=True, capture_output=True).stdout
    text = subprocess.run(["pdftotext", str(out), "-"], check=True, capture_output=True, text=True).stdout
    return px, text


def test_names_print_as_registered(tmp_path: Path) -> None:
    plain, _ = render(tmp_path, "葛城 一郎")
    variant, text = render(tmp_path, "葛\U000E0102城 一郎")
    default, _ = render(tmp_path, "葛\U000E0103城 一郎")
    assert variant != plain and default == plain
    flat = "".join(text.split())  # pdftotext breaks lines where the cell wraps
    assert "葛\U000E0102城一郎".encode("utf-8") in flat.encode("utf-8")
    assert f"山{GAIJI_MARK}花子（ヤマザキハナコ）" in flat and "\ue000" not in flat
    assert f"山田{GAIJI_MARK}（ヤマダエミ）" in flat
    assert "1/1頁" in flat


def test_without_harfbuzz_an_ivs_name_is_a_clear_error_and_nothing_is_written(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from fpdf import FPDF
    from fpdf.errors import FPDFException

    def no_harfbuzz(self: FPDF, *a: object, **k: object) -> None:
        raise FPDFException("The uharfbuzz package could not be imported")

    monkeypatch.setattr(FPDF, "set_text_shaping", no_harfbuzz)
    out = tmp_path / "x.pdf"
    with pytest.raises(UsageError) as e:
        PB.render_pdf(extract("葛\U000E0102城 一郎"), out)
    assert e.value.code == "shaping_missing" and "uharfbuzz" in e.value.message and not out.exists()
