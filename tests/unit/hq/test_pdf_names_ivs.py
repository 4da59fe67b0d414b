"""Names with IVS in our PDFs (hq/pdftext.py, issue 19): drawn with the variant glyph, the text
layer gives the name back byte for byte, and a selector is never a box or a gap.

Rasterised by poppler (pdftoppm) and compared pixel for pixel: 葛 + U+E0102 is IPAmj明朝's glyph
mj022335, plain 葛 is mj022336, and 葛 + U+E0103 names mj022336 again (the font's default), so the
last must equal plain 葛 while the first must not: the difference is the font's variant table, not
noise. Without the fixes in hq/pdftext.py the first two come out identical (checked by hand).
One PDF, one page per case (embedding the 46 MB font is the slow part)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ground.names import NAME_FONT_CANDIDATES
from hq.pdftext import NamesPdf

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None or not Path(NAME_FONT_CANDIDATES[0]).exists(),
                                reason="poppler-utils and fonts-ipamj-mincho are needed")

BASE, VARIANT, DEFAULT_NAMED, NOT_IN_FONT = "葛", "葛\U000E0102", "葛\U000E0103", "葛\U000E01EF"
NAME = "渡邊\U000E010A 葛\U000E0102城"
CASES = [("cell", t) for t in (BASE, VARIANT, DEFAULT_NAMED, NOT_IN_FONT)] + [("table", t) for t in (BASE, VARIANT,
                                                                                                     DEFAULT_NAMED)]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[tuple[str, str], bytes], Path, NamesPdf]:
    d = tmp_path_factory.mktemp("ivs")
    pdf = NamesPdf(unit="mm", format=(105, 60))
    face = pdf.add_name_font()
    pdf.set_font(face.family, size=40)
    for how, text in CASES:
        pdf.add_page()
        if how == "table":
            with pdf.table(first_row_as_headings=False, col_widths=(60,)) as t:
                t.row().cell(text, style=face)
        else:
            pdf.cell(0, 20, text)
    pdf.set_font(face.family, size=12)
    pdf.add_page()
    pdf.cell(0, 10, NAME)
    out = d / "names.pdf"
    pdf.output(str(out))
    subprocess.run(["pdftoppm", "-r", "60", "-gray", str(out), str(d / "p")], check=True)
    images = sorted(d.glob("p-*.pgm"))
    assert len(images) == len(CASES) + 1
    return {case: img.read_bytes() for case, img in zip(CASES, images)}, out, pdf


@pytest.mark.parametrize("how", ["cell", "table"])
def test_variant_glyph_is_drawn(pages: tuple[dict[tuple[str, str], bytes], Path, NamesPdf], how: str) -> None:
    px = pages[0]
    assert px[(how, VARIANT)] != px[(how, BASE)]
    assert px[(how, DEFAULT_NAMED)] == px[(how, BASE)]


def test_selector_the_font_lacks_draws_the_base_character_not_a_box(
        pages: tuple[dict[tuple[str, str], bytes], Path, NamesPdf]) -> None:
    assert pages[0][("cell", NOT_IN_FONT)] == pages[0][("cell", BASE)]


def test_text_layer_gives_the_registered_name_back(pages: tuple[dict[tuple[str, str], bytes], Path, NamesPdf]) -> None:
    last = subprocess.run(["pdftotext", "-f", str(len(CASES) + 1), str(pages[1]), "-"], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert last.encode("utf-8") == NAME.encode("utf-8")


def test_shaping_is_on_only_for_the_cells_that_need_it(pages: tuple[dict[tuple[str, str], bytes], Path, NamesPdf]) -> None:
    assert pages[2].text_shaping is None  # turned on for a selector's cell only, off again after
