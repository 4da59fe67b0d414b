"""The rehearsal's two papers (リハーサル報告書, ゼロ確認書) as PDF: fpdf2 and the Japanese font.

Owns only the layout; the content is appliance/rehearsal.py's report and proof (plain dicts).
May import ground and appliance.dirs; fpdf2 is imported lazily (the terminal's other commands do
not need it), as hq/paper_backup.py does. Every page of the rehearsal report carries 試験 in its
header and a diagonal watermark, so a page found alone cannot pass for a real record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.dirs import write_atomic
from ground.errors import UsageError

DEFAULT_FONT = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
FONT = "ipaex"
MARK = "試験"
RESULT_COLOR = {"PASS": (210, 240, 210), "FAIL": (255, 205, 200), "SKIP": (240, 235, 200), "未確認": (240, 235, 200)}


def _pdf(title: str, subtitle: str, font: Path, watermark: bool) -> Any:
    from fpdf import FPDF  # lazy: fpdf2 only for the rehearsal papers

    if not font.exists():
        raise UsageError(f"日本語フォントがありません: {font}（fonts-ipaexfont-gothic を入れてください）",
                         code="font_missing")

    class _Pdf(FPDF):
        def header(self) -> None:
            if watermark:
                with self.local_context(text_color=(235, 200, 200)):
                    self.set_font(FONT, size=110)
                    with self.rotation(35, x=105, y=160):
                        self.text(45, 185, MARK)
            self.set_font(FONT, size=11)
            self.set_fill_color(200, 30, 30)
            self.set_text_color(255, 255, 255)
            self.cell(0, 8, f"【{MARK}】{title}", fill=True, new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0, 0, 0)
            self.set_font(FONT, size=8)
            self.cell(0, 5, subtitle, new_x="LMARGIN", new_y="NEXT")
            self.ln(2)

        def footer(self) -> None:
            self.set_y(-10)
            self.set_font(FONT, size=7)
            self.cell(0, 5, f"{MARK}　{self.page_no()} / {{nb}} 頁", align="C")

    pdf = _Pdf(orientation="P", unit="mm", format="A4")
    pdf.alias_nb_pages()
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_font(FONT, "", str(font))
    pdf.set_font(FONT, size=9)
    pdf.add_page()
    return pdf


def _rows(pdf: Any, head: list[str], rows: list[list[str]], results: list[str]) -> None:
    from fpdf.fonts import FontFace

    with pdf.table(col_widths=(40, 58, 58, 18), headings_style=FontFace(fill_color=(220, 226, 235)),
                   line_height=5, text_align="LEFT", first_row_as_headings=True, repeat_headings=1) as t:
        r = t.row()
        for h in head:
            r.cell(h)
        for row, res in zip(rows, results):
            r = t.row()
            style = FontFace(fill_color=RESULT_COLOR.get(res, (255, 255, 255)))
            for c in row:
                r.cell(c, style=style)


def render_report(rep: dict[str, Any], out: Path, font: Path = DEFAULT_FONT) -> int:
    """The rehearsal report (one terminal): each step, expected vs seen, PASS/FAIL. Returns pages."""
    pdf = _pdf("リハーサル報告書（名簿対照端末）",
               f"端末 {rep['terminal']}　投票所 {rep['station']}　試験の選挙 {rep['election']}　実施 {rep['at']}",
               font, watermark=True)
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 8, f"総合判定: {rep['verdict']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(0, 4.5, "この報告書は試験モードの記録です。試験の名簿（氏名が【テスト】で始まる架空の選挙人）と"
                   "試験の受付記録だけを使い、本番の受付記録・名簿には一切記録していません。"
                   "SKIP は実施できなかった手順（理由は「結果」欄）です。", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    steps = rep["steps"]
    _rows(pdf, ["手順", "期待する結果", "実際の結果", "判定"],
          [[s["name"], s["expected"], s["seen"], s["result"]] for s in steps], [s["result"] for s in steps])
    data = bytes(pdf.output())
    write_atomic(out, data)
    return int(pdf.pages_count)


def render_proof(proof: dict[str, Any], out: Path, font: Path = DEFAULT_FONT) -> int:
    """The ゼロ確認書: the real journal empty, versions as HQ published, the test data destroyed."""
    pdf = _pdf("ゼロ確認書（試験モード終了）",
               f"端末 {proof['terminal']}　投票所 {proof['station']}　選挙 {proof['election']}　"
               f"確認 {proof['finished_at']}　（試験開始 {proof['rehearsal_started_at']}）", font, watermark=False)
    pdf.set_font(FONT, size=12)
    word = {"PASS": "確認済", "PASS_UNCONFIRMED": "確認済（一部未確認）", "FAIL": "不一致あり"}[proof["verdict"]]
    pdf.cell(0, 8, f"判定: {word}（{proof['verdict']}）", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=8)
    pdf.multi_cell(0, 4.5, f"本番の受付記録: {proof['journal_head_seq']} 件。先頭のハッシュ {proof['journal_head_hash']}"
                   f" は、この選挙とこの端末の起点（genesis） {proof['genesis_hash']} と"
                   + ("一致します。" if proof["journal_head_hash"] == proof["genesis_hash"] else "一致しません。")
                   + " 試験の記録は別の選挙 id（" + proof["rehearsal"] + "）で作られており、本部の本番の台帳は"
                   "選挙の照合でこれを受け付けません。", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    checks = proof["checks"]
    _rows(pdf, ["確認項目", "期待", "確認した値", "判定"],
          [[c["name"], c["expected"], c["seen"], c["result"]] for c in checks], [c["result"] for c in checks])
    pdf.ln(3)
    pdf.cell(0, 6, f"消去したファイル: {len(proof['destroyed'])} 件", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)
    pdf.cell(0, 6, "確認者（投票管理者）署名: ______________________　　立会人署名: ______________________",
             new_x="LMARGIN", new_y="NEXT")
    data = bytes(pdf.output())
    write_atomic(out, data)
    return int(pdf.pages_count)


__all__ = ["render_report", "render_proof", "DEFAULT_FONT"]
