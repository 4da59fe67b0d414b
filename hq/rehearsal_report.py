"""HQ's rehearsal verbs (リハーサル): start, status, the report (expected vs seen, PASS/FAIL), and
finish with ゼロ確認 (the test ledger destroyed, a proof that nothing of it is in the real ledger).

Owns the verbs and their PDFs; the switch file, the test ledger and serving it are hq/rehearsal.py.
May import ground, appliance (dirs), hq's store, ledger, roll and paper_backup's font; never the
server, the screens or the CLI (cli/hq_rehearsal.py parses and prints).

Every figure is read from the stores, never from a process's memory: the report and the proof
say what is durable. The leak check is by content, not by trust: every record body of the test
ledger is looked for, byte for byte, among the real ledger's records (expected: none), before the
test ledger is removed. The PDFs are laid out with fpdf2 (as the paper backup is) and carry 試験
on every page, so a printed page can never pass for an election record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.dirs import HqDir, write_atomic
from ground.clock import Clock
from ground.errors import UsageError
from ground.events import EventKind, decode
from ground.rehearsal import rehearsal_id
from hq.ledger import Ledger
from hq.ledger.verdicts import CState
from hq.paper_backup import DEFAULT_FONT
from hq.rehearsal import (RehearsalError, area, destroy_area, online_terminals, read_state, seen_of_run,
                          seen_terminals, test_store, write_state)
from hq.roll import published_version, zaigai_version_or_none
from hq.store import HqStore, read_registry
from hq.store_db import parse_store_url

FONT = "ipaex"
TEST_MARK = "試験"


@dataclass(frozen=True)
class Step:
    """One line of the rehearsal report."""

    key: str
    title: str
    expected: str
    seen: str
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "title": self.title, "expected": self.expected, "seen": self.seen,
                "result": "PASS" if self.passed else "FAIL"}


def _real_store(hq: HqDir, store_url: str | None) -> HqStore | None:
    """The real store, read only by the rehearsal; None for an hq.db HQ has never made (nothing
    in it, and the rehearsal does not create it)."""
    url = parse_store_url(store_url) if store_url is not None else parse_store_url(hq.config().hq_store,
                                                                                   from_config=True)
    if url.backend == "sqlite" and not hq.hq_db.exists():
        return None
    return HqStore(hq, store_url=store_url)


def real_checkins(hq: HqDir, store_url: str | None = None) -> int:
    """Check-ins the real ledger holds (every one, whatever it decided)."""
    st = _real_store(hq, store_url)
    if st is None:
        return 0
    try:
        return len(st.events_of_kinds([EventKind.CHECKIN.value]))
    finally:
        st.close()


def start(hq: HqDir, clock: Clock, terminals: list[str] | None = None, store_url: str | None = None) -> dict[str, Any]:
    """Turn the switch on. ``terminals``: registered as in test mode from now (their stations'
    real check-ins are refused even before they connect)."""
    hq.require()
    if read_state(hq) is not None:
        raise RehearsalError("リハーサルはすでに開始されています（meibo hq rehearsal status で確認）",
                             code="rehearsal_already_on")
    config = hq.config()
    reg = read_registry(hq)
    named = sorted(set(terminals or []))
    unknown = [t for t in named if t not in reg or reg[t].revoked]
    if unknown:
        raise RehearsalError(f"登録されていない端末です: {'、'.join(unknown)}", code="rehearsal_terminal_unknown")
    if (area(hq) / "hq.db").exists():
        raise RehearsalError("前回のリハーサルの試験台帳が残っています。先に finish で消去してください",
                             code="rehearsal_area_left")
    state = {"election": rehearsal_id(config.election_id), "real_election": config.election_id,
             "started_at": clock.now().isoformat(), "terminals": named,
             "real_checkins_at_start": real_checkins(hq, store_url)}
    write_state(hq, state)
    ts = test_store(hq)  # made now, so status and the report answer before the first terminal
    ts.close()
    return {"status": "ok", "code": "rehearsal_started", **state}


def _need_state(hq: HqDir) -> dict[str, Any]:
    st = read_state(hq)
    if st is None:
        raise RehearsalError("リハーサルは開始されていません（meibo hq rehearsal start）", code="rehearsal_not_on")
    return st


def _load_test(hq: HqDir) -> tuple[Ledger, list[str], list[bytes], HqStore]:
    ts = test_store(hq)
    led = ts.load(Ledger)
    seen = seen_terminals(ts)
    bodies = [b for chunk in ts.db.bodies(4096) for b in chunk]
    return led, seen, bodies, ts


def status(hq: HqDir) -> dict[str, Any]:
    st = read_state(hq)
    if st is None:
        return {"status": "ok", "code": "rehearsal_off", "on": False}
    led, seen, _, ts = _load_test(hq)
    ts.close()
    seen = sorted(set(seen) | set(seen_of_run(hq, str(st.get("started_at", "")))))
    reg = ts.registry
    in_test = sorted(set(seen) | set(st.get("terminals", [])))
    return {"status": "ok", "code": "rehearsal_on", "on": True, "election": st["election"],
            "started_at": st["started_at"], "terminals_in_test_mode": in_test, "seen": seen,
            "online": online_terminals(hq),
            "stations_refusing_real_checkins": sorted({str(reg[t].station) for t in in_test if t in reg}),
            "test_checkins": len(led.checkins), "test_alerts": len(led.active_alerts())}


def _steps(st: dict[str, Any], led: Ledger, seen: list[str], bodies: list[bytes]) -> list[Step]:
    named = list(st.get("terminals", []))
    if named:
        missing = [t for t in named if t not in seen]
        s1 = Step("terminals_seen", "試験モードで接続した端末", "、".join(named), "、".join(seen) or "なし", not missing)
    else:
        s1 = Step("terminals_seen", "試験モードで接続した端末", "1 台以上", "、".join(seen) or "なし", bool(seen))
    n = len(led.checkins)
    s2 = Step("test_checkins", "試験台帳の受付", "1 件以上", f"{n} 件", n >= 1)
    stopped = 0
    for _, rec in led.checkins.reading():
        if rec.first and any(rec.states().get(c) is CState.WITHHELD and rec.first[c].station != rec.ref.station
                             for c in rec.first):
            stopped += 1
    s3 = Step("double_vote_stopped", "二重投票の阻止（オンライン: 別の投票所で交付済と回答し、交付せず）",
              "1 件以上", f"{stopped} 件", stopped >= 1)
    detected = [a for a in led.alert_log if len({b.station for b in a.ballots}) >= 2]
    s4 = Step("double_vote_detected", "二重投票の検出（オフライン受付どうしの警告）", "1 件以上",
              f"{len({(a.voter) for a in detected})} 人（{len(detected)} 件）", bool(detected))
    prov = [decode(b) for b in bodies if decode(b).kind is EventKind.PROVISIONAL]
    reached = [e for e in prov if led.checkins.raw((e.terminal, int(e.ref))) is not None]
    s5 = Step("offline_reconciled", "オフライン受付の取り込み（回線断のあと本部に到達）",
              "オフライン受付 1 件以上、すべて本部の台帳に到達",
              f"{len(prov)} 件中 {len(reached)} 件到達", bool(prov) and len(reached) == len(prov))
    return [s1, s2, s3, s4, s5]


def report(hq: HqDir, clock: Clock, out: Path | None = None, font: Path = DEFAULT_FONT) -> dict[str, Any]:
    """The HQ rehearsal report from the test ledger; a PDF at ``out`` when given."""
    st = _need_state(hq)
    led, seen, bodies, ts = _load_test(hq)
    ts.close()
    seen = sorted(set(seen) | set(seen_of_run(hq, str(st.get("started_at", "")))))
    steps = _steps(st, led, seen, bodies)
    rep = {"status": "ok", "code": "rehearsal_report", "election": st["election"], "started_at": st["started_at"],
           "made_at": clock.now().isoformat(), "passed": all(s.passed for s in steps),
           "steps": [s.as_dict() for s in steps]}
    if out is not None:
        rep["pdf"] = str(out)
        rep["pages"] = render_pdf("本部リハーサル報告書", _report_lines(rep), out, font)
    return rep


def _report_lines(rep: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    rows = [[s["title"], s["expected"], s["seen"], s["result"]] for s in rep["steps"]]
    return [(f"試験用の選挙 {rep['election']}　開始 {rep['started_at']}　作成 {rep['made_at']}　"
             f"総合判定 {'PASS' if rep['passed'] else 'FAIL'}", [["項目", "期待", "結果", "判定"], *rows])]


def finish(hq: HqDir, clock: Clock, out: Path | None = None, store_url: str | None = None,
           font: Path = DEFAULT_FONT) -> dict[str, Any]:
    """ゼロ確認: refused while a terminal is connected in test mode; else the report is made, the
    test ledger is checked against the real one and destroyed, and the proof written."""
    st = _need_state(hq)
    connected = online_terminals(hq)
    if connected:
        raise RehearsalError(f"試験モードで接続中の端末があります: {'、'.join(connected)}。"
                             "端末側のリハーサルを終了してから本部を終了してください",
                             code="rehearsal_terminals_connected")
    led, seen, bodies, ts = _load_test(hq)
    ts.close()
    seen = sorted(set(seen) | set(seen_of_run(hq, str(st.get("started_at", "")))))
    steps = _steps(st, led, seen, bodies)
    test_set = set(bodies)
    real = _real_store(hq, store_url)
    leaked_bodies: list[bytes] = []
    checkins_now = 0
    if real is not None:
        try:
            leaked_bodies = [bytes(b) for chunk in real.db.bodies(4096) for b in chunk if bytes(b) in test_set]
            checkins_now = len(real.events_of_kinds([EventKind.CHECKIN.value]))
        finally:
            real.close()
    removed = destroy_area(hq)
    if area(hq).exists():  # never said to be gone when it is not
        raise UsageError(f"試験台帳を消去できませんでした: {area(hq)}", code="rehearsal_destroy_failed")
    config = hq.config()
    contests = [[c.contest_id, c.name] for c in config.contests]
    before = int(st.get("real_checkins_at_start", 0))
    proof = {
        "status": "ok", "code": "rehearsal_zero_proof", "election": config.election_id,
        "rehearsal_election": st["election"], "started_at": st["started_at"], "finished_at": clock.now().isoformat(),
        "test_records": len(bodies), "test_checkins": len(led.checkins), "test_terminals": seen,
        "test_ledger_destroyed": True, "removed": removed,
        "real_records_from_test_ledger": len(leaked_bodies),
        "real_checkins_of_rehearsal": sum(1 for b in leaked_bodies if decode(b).kind is EventKind.CHECKIN),
        "real_checkins_at_start": before, "real_checkins_now": checkins_now,
        "real_checkins_unchanged": before == checkins_now,
        "roll_version": published_version(hq), "zaigai_version": zaigai_version_or_none(hq),
        "contests": contests,
        "contests_digest": hashlib.sha256(json.dumps(contests, ensure_ascii=False).encode()).hexdigest()[:16],
        "report": {"passed": all(s.passed for s in steps), "steps": [s.as_dict() for s in steps]},
    }
    proof["zero"] = not leaked_bodies and proof["test_ledger_destroyed"]
    if out is not None:
        proof["pdf"] = str(out)
        proof["pages"] = render_pdf("本部ゼロ確認書（リハーサル終了）", _proof_lines(proof), out, font)
    return proof


def _proof_lines(p: dict[str, Any]) -> list[tuple[str, list[list[str]]]]:
    ok = "確認" if p["zero"] else "不一致"
    rows = [
        ["試験台帳の消去", "消去済み（HQDIR/rehearsal を削除し同期）", f"{len(p['removed'])} ファイル"],
        ["試験台帳の記録が本番台帳にある数", "0", str(p["real_records_from_test_ledger"])],
        ["本番台帳のリハーサル用受付", "0 件", f"{p['real_checkins_of_rehearsal']} 件"],
        ["本番台帳の受付数（開始時 → 終了時）", "変化なし",
         f"{p['real_checkins_at_start']} → {p['real_checkins_now']}（{'変化なし' if p['real_checkins_unchanged'] else '変化あり'}）"],
        ["公開中の名簿の版", "—", str(p["roll_version"])],
        ["在外選挙人名簿の版", "—", "未公開" if p["zaigai_version"] is None else str(p["zaigai_version"])],
        ["選挙（contest）", "—", "、".join(f"{n}（{c}）" for c, n in p["contests"]) + f"　digest {p['contests_digest']}"],
    ]
    steps = [[s["title"], s["expected"], s["seen"], s["result"]] for s in p["report"]["steps"]]
    return [(f"選挙 {p['election']}　試験用 {p['rehearsal_election']}　開始 {p['started_at']}　終了 {p['finished_at']}"
             f"　ゼロ確認: {ok}", [["項目", "期待", "結果"], *rows]),
            ("リハーサルの結果（終了時）", [["項目", "期待", "結果", "判定"], *steps])]


def render_pdf(title: str, sections: list[tuple[str, list[list[str]]]], out: Path, font: Path = DEFAULT_FONT) -> int:
    """A4 landscape, 試験 in red in every page's header and as a mark across every page; returns pages."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    if not font.exists():
        raise UsageError(f"日本語フォントがありません: {font}（fonts-ipaexfont-gothic を入れてください）",
                         code="font_missing")

    class _Pdf(FPDF):
        def header(self) -> None:
            self.set_font(FONT, size=40)
            self.set_text_color(235, 200, 200)
            with self.rotation(20, x=148, y=110):  # the mark across the page, behind nothing important
                self.text(95, 125, f"{TEST_MARK}　{TEST_MARK}　{TEST_MARK}")
            self.set_text_color(200, 0, 0)
            self.set_font(FONT, size=14)
            self.cell(0, 8, f"【{TEST_MARK}】{title}　— 本番の記録ではありません —", new_x="LMARGIN", new_y="NEXT")
            self.set_text_color(0, 0, 0)
            self.set_font(FONT, size=9)

        def footer(self) -> None:
            self.set_y(-10)
            self.set_font(FONT, size=8)
            self.set_text_color(200, 0, 0)
            self.cell(0, 5, f"{TEST_MARK}　{self.page_no()} / {{nb}} 頁　meibo リハーサル", align="C")
            self.set_text_color(0, 0, 0)

    pdf = _Pdf(orientation="L", unit="mm", format="A4")
    pdf.alias_nb_pages()
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.add_font(FONT, "", str(font))
    pdf.add_page()
    head = FontFace(fill_color=(220, 226, 235))
    fail = FontFace(fill_color=(255, 220, 215))
    for caption, table in sections:
        pdf.set_font(FONT, size=10)
        pdf.multi_cell(0, 6, caption, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=9)
        with pdf.table(headings_style=head, line_height=5.5, text_align="LEFT", first_row_as_headings=True) as t:
            for i, row in enumerate(table):
                style = fail if i and row[-1] in ("FAIL",) else None
                r = t.row()
                for v in row:
                    r.cell(str(v), style=style)
        pdf.ln(3)
    data = bytes(pdf.output())
    write_atomic(out, data)
    return int(pdf.pages_count)


__all__ = ["Step", "start", "status", "report", "finish", "real_checkins", "render_pdf", "TEST_MARK"]
