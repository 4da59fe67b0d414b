"""Paper backup (紙の名簿抄本): a PDF roll extract per station — per 投票区 for a day station — with
every voter's 投票済 marks per contest as of a stated time, printed by HQ before opening and on
demand. A station whose terminal dies goes on with it and a pen (check the 済 column, write the
check-ins on the paper), and reconciles later: what the terminal wrote reaches HQ through
``meibo hq import-journal``; what was written on paper is entered afterwards.

``build_extract`` is pure (roll rows + ledger → rows and marks); ``render_pdf`` lays it out with
fpdf2 and an embedded Japanese font (IPAex ゴシック); the 氏名 column is drawn in IPAmj明朝 through
``hq.pdftext.NamesPdf`` so a name with an IVS prints as registered, and a 外字 prints as 〓 with
the kana (``ground.names.display_name``, issue 19). Marks come from the ledger's ballots (state
``ballot``) whose check-in time is at or before ``as_of``; a 不在者投票 counts. Never imports the UI.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from appliance.dirs import write_atomic
from ground.errors import UsageError
from ground.model import ElectionConfig, StationKind
from ground.names import display_name
from appliance.birthdate import BirthDate, birth_wareki, from_canonical
from hq.ledger import Ledger
from hq.records import hlc_dt

DEFAULT_FONT = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
FONT = "ipaex"
MARK = "済"
STATUS_JA = {"registered": "", "deleted": "抹消", "displayed": "表示"}


@dataclass(frozen=True)
class RollRow:
    voter_id: str
    district: int
    name: str
    kana: str
    birth_date: BirthDate  # parts may be 不詳 (issue 19)
    sex: str
    address: str
    status: str


@dataclass(frozen=True)
class ExtractRow:
    voter: RollRow
    marks: tuple[str, ...]  # per contest, in config order: "済" (with station when known) or ""


@dataclass(frozen=True)
class Extract:
    election_id: str
    election_name: str
    station: str
    station_name: str
    district: int | None  # None: every 投票区
    as_of: datetime
    contests: tuple[tuple[str, str], ...]
    rows: tuple[ExtractRow, ...]

    @property
    def voted(self) -> int:
        return sum(1 for r in self.rows if any(r.marks))


def marks_as_of(ledger: Ledger, as_of: datetime) -> dict[tuple[str, str], str]:
    """(voter, contest) → station id of the first ballot handed at or before ``as_of``."""
    out: dict[tuple[str, str], str] = {}
    for (voter, contest), refs in ledger.ballots.items():
        for key in refs:
            rec = ledger.checkins[key]
            if hlc_dt(rec.ref.hlc) <= as_of:
                out[(voter, contest)] = rec.ref.station
                break
    return out


def build_extract(config: ElectionConfig, station_id: str, roll: Iterable[RollRow], ledger: Ledger,
                  as_of: datetime, district: int | None = None) -> Extract:
    """The extract for one station: a day station's own 投票区 (``district`` must agree), any
    other station every voter or, with ``district``, one 投票区. Sorted by kana, then birth date."""
    try:
        st = config.station(station_id)
    except KeyError:
        raise UsageError(f"投票所 {station_id} は election.toml にありません", code="station_unknown")
    if st.kind is StationKind.DAY:
        if district is not None and district != st.district:
            raise UsageError(f"{st.name}は第{st.district}投票区の当日投票所です（指定: 第{district}投票区）",
                             code="district_mismatch")
        district = st.district
    marks = marks_as_of(ledger, as_of)
    rows = []
    for v in sorted((r for r in roll if district is None or r.district == district),
                    key=lambda r: (r.kana, r.birth_date, r.voter_id)):
        ms = []
        for c in config.contest_ids:
            where = marks.get((v.voter_id, c))
            ms.append("" if where is None else (f"{MARK}({'不在' if where == 'HQ' else where})"))
        rows.append(ExtractRow(v, tuple(ms)))
    return Extract(config.election_id, config.name, st.station_id, st.name, district, as_of,
                   tuple((c.contest_id, c.name) for c in config.contests), tuple(rows))


def roll_rows(conn: sqlite3.Connection) -> list[RollRow]:
    """Every row of HQDIR/roll.db's ``roll`` table."""
    return [RollRow(str(r[0]), int(r[1]), str(r[2]), str(r[3]), from_canonical(str(r[4])), str(r[5]),
                    str(r[6]), str(r[7])) for r in conn.execute(
        "SELECT voter_id, district, name, kana, birth_date, sex, address, status FROM roll")]


def render_pdf(ex: Extract, out: Path, font: Path = DEFAULT_FONT, name_font: Path | None = None) -> int:
    """Write the extract (A4 landscape) atomically; returns the page count. ``name_font``: the
    font for the 氏名 column (default: IPAmj明朝, ``MEIBO_NAME_FONT``)."""
    from fpdf.fonts import FontFace

    from hq.pdftext import NAME_FAMILY, NamesPdf  # lazy: fpdf2, which only this function needs

    if not font.exists():
        raise UsageError(f"日本語フォントがありません: {font}（fonts-ipaexfont-gothic を入れてください）",
                         code="font_missing")
    where = f"第{ex.district}投票区" if ex.district is not None else "全投票区"
    stamp = f"{ex.as_of:%Y年%m月%d日 %H:%M} 現在"

    class _Pdf(NamesPdf):
        def header(self) -> None:
            self.set_font(FONT, size=10)
            self.cell(0, 6, f"選挙人名簿抄本（紙の予備）　{ex.station_name}（{ex.station}）　{where}　投票済の記載: {stamp}",
                      new_x="LMARGIN", new_y="NEXT")
            self.set_font(FONT, size=8)

        def footer(self) -> None:
            self.set_y(-10)
            self.set_font(FONT, size=7)
            self.cell(0, 5, f"{ex.election_name}（{ex.election_id}）　{self.page_no()} / {{nb}} 頁　"
                            "個人情報: 使用後は選挙管理委員会に返却", align="C")

    pdf = _Pdf(orientation="L", unit="mm", format="A4")
    pdf.alias_nb_pages()
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_font(FONT, "", str(font))
    pdf.add_name_font(name_font)
    pdf.set_font(FONT, size=8)
    pdf.add_page()
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(0, 5, (
        f"対象 {len(ex.rows)} 人、うち {stamp}で投票済 {ex.voted} 人。端末が使えないときの手順: "
        "① 入場整理券または本人の申出で、この抄本の氏名・生年月日を確認する。"
        "② 「済」の選挙の投票用紙は交付しない（本人が争うときは仮投票）。"
        "③ 交付したら「受付」欄に時刻と係名を書く。"
        f"④ この抄本は {stamp}の状態です。その後に他の投票所で投票した方は載っていないため、"
        "本部へ電話で照会する。⑤ 端末が戻ったら受付記録を本部に持ち込み（meibo hq import-journal）、"
        "紙の受付を本部で入力する。"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(FONT, size=8)
    head = ["選挙人番号", "氏名", "氏名カナ", "生年月日", "性", "住所", "状態"] + [n for _, n in ex.contests] + ["受付"]
    nc = len(ex.contests)
    widths = (20, 30, 34, 30, 7, 62, 10) + (max(12, min(22, 60 // max(nc, 1))),) * nc + (22,)
    head_style = FontFace(fill_color=(220, 226, 235))
    voted_style = FontFace(fill_color=(255, 225, 220))
    name_style, voted_name_style = FontFace(family=NAME_FAMILY), FontFace(family=NAME_FAMILY, fill_color=(255, 225, 220))
    with pdf.table(col_widths=widths, headings_style=head_style, line_height=4.6, text_align="LEFT",
                   first_row_as_headings=True, repeat_headings=1) as t:
        r = t.row()
        for h in head:
            r.cell(h)
        for er in ex.rows:
            v = er.voter
            voted = any(er.marks)
            style = voted_style if voted else None
            r = t.row()
            r.cell(v.voter_id, style=style)
            r.cell(display_name(v.name, v.kana, pdf.name_drawable), style=voted_name_style if voted else name_style)
            for cell in (v.kana, f"{birth_wareki(v.birth_date, short=True)}",
                         {"M": "男", "F": "女"}.get(v.sex, v.sex), v.address[:40], STATUS_JA.get(v.status, v.status),
                         *er.marks, ""):
                r.cell(cell, style=style)
    data = bytes(pdf.output())
    write_atomic(out, data)
    return int(pdf.pages_count)


__all__ = ["RollRow", "ExtractRow", "Extract", "marks_as_of", "build_extract", "roll_rows", "render_pdf",
           "DEFAULT_FONT"]
