"""The printable daily station report (日報) as PDF, with fpdf2 and an embedded Japanese TrueType
font (IPAex ゴシック by default). No kivy import. Takes a ``records.DailyReport`` (figures built
by the pure records code) and only lays it out: counts per station and contest, the hourly
check-ins per station, 名簿対照数 vs 交付数 with differences marked, alerts and their resolutions.
Made with ``hq.pdftext.NamesPdf`` (issue 19): any text with a variation selector (a clerk's or a
note's name as written) is shaped, never drawn as a box.
"""

from __future__ import annotations

from pathlib import Path

from fpdf.fonts import FontFace

from appliance.dirs import write_atomic
from hq.pdftext import NamesPdf
from hq.records import ALERT_STATE_JA, KIND_JA, DailyReport

FONT = "ipaex"


def _pdf(font: Path) -> NamesPdf:
    pdf = NamesPdf(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font(FONT, "", str(font))
    pdf.set_font(FONT, size=9)
    return pdf


def _heading(pdf: NamesPdf, text: str, size: int = 12) -> None:
    pdf.ln(2)
    pdf.set_font(FONT, size=size)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)


def _table(pdf: NamesPdf, header: list[str], rows: list[list[str]], widths: tuple[int, ...] | None = None,
           marked: set[int] | None = None) -> None:
    head_style = FontFace(fill_color=(220, 226, 235))
    with pdf.table(col_widths=widths, headings_style=head_style, line_height=5.5, text_align="LEFT",
                   first_row_as_headings=True) as t:
        r = t.row()
        for h in header:
            r.cell(h)
        for i, row in enumerate(rows):
            style = FontFace(fill_color=(255, 220, 215)) if marked and i in marked else None
            r = t.row()
            for v in row:
                r.cell(v, style=style)


def render_daily_report(rep: DailyReport, out: Path, font: Path) -> int:
    """Write the report to ``out`` atomically; returns the number of pages."""
    pdf = _pdf(font)
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.cell(0, 10, f"投票所日報　{rep.day}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=9)
    pdf.cell(0, 6, f"{rep.election_name}（{rep.election_id}）　作成 {rep.generated_at}　meibo",
             new_x="LMARGIN", new_y="NEXT")

    names = dict(rep.contests)
    _heading(pdf, "1. 投票所別の受付数と交付した投票用紙（名簿対照数）")
    header = ["投票所", "種別", "受付（人）", "取消"] + [names[c] for c, _ in rep.contests]
    rows = [[f"{s['station']} {s['name']}", KIND_JA.get(s["kind"], s["kind"]), str(s["checkins"]), str(s["voided"])]
            + [str(s["ballots"].get(c, 0)) for c, _ in rep.contests] for s in rep.station_counts]
    rows.append(["合計", "", str(sum(s["checkins"] for s in rep.station_counts)),
                 str(sum(s["voided"] for s in rep.station_counts))]
                + [str(rep.totals_by_contest.get(c, 0)) for c, _ in rep.contests])
    if rep.station_counts:
        _table(pdf, header, rows)
    else:
        pdf.cell(0, 6, "この日の受付はありません", new_x="LMARGIN", new_y="NEXT")

    t = rep.turnout
    _heading(pdf, "2. 時間帯別の受付数（人）")
    if t.by_station:
        hours = list(t.hours)
        header = ["投票所"] + [f"{h}時" for h in hours] + ["計"]
        rows = [[f"{s} {t.station_names.get(s, s)}"] + [str(v) for v in vals] + [str(sum(vals))]
                for s, vals in t.by_station.items()]
        first = 46
        rest = (pdf.epw - first - 12) / max(1, len(hours))
        _table(pdf, header, rows, widths=(first, *([rest] * len(hours)), 12))  # type: ignore[arg-type]
    else:
        pdf.cell(0, 6, "この日の受付はありません", new_x="LMARGIN", new_y="NEXT")

    _heading(pdf, "3. 名簿対照数と交付数（時刻ごと、差のある行に色）")
    if rep.hourly:
        rows = [[f"{h.hour}時", f"{h.station} {h.station_name}", names.get(h.contest, h.contest), str(h.matched),
                 "" if h.issued is None else str(h.issued),
                 "" if h.difference is None else f"{h.difference:+d}"] for h in rep.hourly]
        marked = {i for i, h in enumerate(rep.hourly) if h.flagged}
        _table(pdf, ["時刻", "投票所", "選挙", "名簿対照数", "交付数", "差"], rows, widths=(16, 70, 80, 30, 30, 20),
               marked=marked)
    else:
        pdf.cell(0, 6, "交付数の入力はありません", new_x="LMARGIN", new_y="NEXT")

    _heading(pdf, "4. 二重投票の警告と対応")
    if rep.alerts:
        for a in rep.alerts:
            state = ALERT_STATE_JA.get(a.state, a.state) + ("" if a.active else "（取消により解消）")
            pdf.set_font(FONT, size=10)
            pdf.cell(0, 6, f"警告 {a.alert_id} 番　選挙人 {a.voter}　{a.contest_name}　対応状況: {state}",
                     new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(FONT, size=9)
            rows = [[str(i), f"{b.station} {b.station_name}", b.terminal, str(b.seq), b.clerk, b.at,
                     "オフライン受付（仮）" if b.provisional else "オンライン"] for i, b in enumerate(a.ballots, 1)]
            _table(pdf, ["", "投票所", "端末", "受付番号", "担当者", "受付日時", "受付の別"], rows,
                   widths=(8, 70, 30, 20, 35, 55, 40))
            for h in a.history:
                pdf.multi_cell(0, 5, f"　{h.at}　{ALERT_STATE_JA.get(h.state, h.state)}　{h.who}：{h.note}",
                               new_x="LMARGIN", new_y="NEXT")
            if not a.history:
                pdf.cell(0, 5, "　対応の記録はまだありません", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
    else:
        pdf.cell(0, 6, "二重投票の警告はありません", new_x="LMARGIN", new_y="NEXT")
    if rep.alarms:
        _heading(pdf, "5. 端末複製の警報")
        _table(pdf, ["端末", "投票所", "番号", "内容"],
               [[al.terminal, al.station, str(al.seq), al.reason_ja] for al in rep.alarms])
    data = bytes(pdf.output())
    write_atomic(out, data)
    return pdf.pages_count
