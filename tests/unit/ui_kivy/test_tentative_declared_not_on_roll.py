"""仮投票 of a person NOT on the roll: from the search results (0 件), the supervisor PIN, the declared
name on the on-screen kana pad (prefilled with the search), an optional declared birth date on the
birth pad, then reason / decider / contests as for any 仮投票. Recorded with ``declared``; never a
check-in, never a ballot."""

from __future__ import annotations

from pathlib import Path

from ground.clock import FixedClock
from ground.events import EventKind, decode
from appliance.terminal import Terminal, write_pin
from tests.builders import EARLY_NOON, TEST_PIN, terminal_dir
from tests.unit.ui_kivy.conftest import VOTERS
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.procedures import who_text
from ui_kivy.presenters.search import SPACE, VOICED
from ui_kivy.service import KioskService, TerminalService


def _to_form(flow: KioskFlow, birth: str | None = "500505") -> None:
    flow.open_search()
    for k in "スス":
        flow.on_kana(k)
    flow.on_kana(VOICED)
    flow.on_kana("キ")
    flow.show_results()
    assert flow.search.state.count_text == "0 件"
    flow.declare_unlisted()
    assert flow.screen is Screen.PIN
    for d in "9999":
        flow.pin_digit(d)
    assert not flow.pin_submit() and flow.screen is Screen.PIN
    for d in "1234":
        flow.pin_digit(d)
    assert flow.pin_submit() and flow.screen is Screen.DECLARE_NAME
    assert flow.declare.name_text == "申立ての氏名（カナ）: スズキ"  # the search, carried over
    for k in (SPACE, "イ", "チ", "ロ", "ウ"):
        flow.declare_kana(k)
    flow.declare_name_done()
    assert flow.screen is Screen.DECLARE_BIRTH
    if birth is None:
        assert flow.declare_done(skip_birth=True)
        return
    flow.declare_era("昭和")
    for d in birth:
        flow.declare_digit(d)
    assert flow.declare_done()


def test_declared_name_and_birth_recorded_as_tentative(flow: KioskFlow, service: FakeKioskService) -> None:
    _to_form(flow)
    t = flow.tentative
    assert flow.screen is Screen.TENTATIVE and t is not None and t.voter_id is None
    assert who_text(t) == "名簿に見つからない方（申立て）: スズキ イチロウ 様  生年月日 昭和50年5月5日"
    assert not t.selected and t.reason is None and not t.can_submit
    flow.on_barcode("whatever")  # supervisor screen: no scan
    assert flow.notice is not None and "管理者画面ではスキャンできません" in flow.notice.text
    flow.tentative_reason("supervisor_refusal")
    flow.tentative_decided_by("投票管理者")
    flow.tentative_toggle("shu")
    flow.tentative_toggle("mayor")
    assert flow.submit_tentative()
    done = flow.tentative
    assert done is not None and done.done is not None and done.done.voter == "?"
    assert "申立てによる選挙人 スズキ イチロウ（1975年05月05日生）" in done.message
    ev = service.events[-1]
    assert ev.kind is EventKind.TENTATIVE and ev.data["declared_name"] == "スズキ イチロウ"
    assert ev.data["declared_birth"] == "1975-05-05" and list(ev.contests) == ["shu", "mayor"]
    assert not any(e.kind is EventKind.CHECKIN for e in service.events) and service.voted == {}
    flow.leave_tentative()
    assert flow.screen is Screen.IDLE and flow.tentative is None and flow.declare.name == ""


def test_birth_is_optional_and_bad_dates_say_so(flow: KioskFlow) -> None:
    flow.open_search()
    flow.on_kana("ア")
    flow.declare_unlisted()  # from the kana pad as well
    for d in "1234":
        flow.pin_digit(d)
    flow.pin_submit()
    for _ in range(3):
        flow.declare_kana("削除")
    flow.declare_name_done()
    assert flow.screen is Screen.DECLARE_NAME and flow.notice is not None
    assert flow.notice.text == "申し立てられた氏名をカナで入力してください"
    flow.declare_kana("ア")
    flow.declare_name_done()
    flow.declare_era("令和")
    for d in "011340":
        flow.declare_digit(d)
    assert not flow.declare_done() and flow.screen is Screen.DECLARE_BIRTH and flow.declare.message
    flow.declare_birth_clear()
    assert flow.declare_done(skip_birth=True)
    assert flow.tentative is not None and who_text(flow.tentative).endswith("生年月日 申立てなし")
    flow.leave_tentative()  # 取りやめ: nothing recorded
    assert flow.screen is Screen.IDLE


def test_declared_on_the_real_terminal(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", VOTERS)
    term = Terminal.open(tdir, FixedClock(EARLY_NOON))
    svc: KioskService = TerminalService(term)
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")
    flow.open_search()
    for k in "スズキ":
        flow.on_kana(k)
    flow.show_results()
    flow.declare_unlisted()
    write_pin(tdir, TEST_PIN)
    for d in TEST_PIN:
        flow.pin_digit(d)
    assert flow.pin_submit()
    flow.declare_name_done()
    assert flow.declare_done(skip_birth=True)
    flow.tentative_reason("witness_objection")
    flow.tentative_decided_by("投票立会人")
    flow.tentative_toggle("governor")
    assert flow.submit_tentative()
    rows = [decode(bytes(b)) for (b,) in term.store.conn.execute("SELECT body FROM journal ORDER BY seq")]
    tent = [e for e in rows if e.kind is EventKind.TENTATIVE]
    assert len(tent) == 1 and tent[0].data["voter"] == "?" and tent[0].data["declared_name"] == "スズキ"
    assert "declared_birth" not in tent[0].data and tent[0].data["reason"] == "witness_objection"
    assert term.store.conn.execute("SELECT count(*) FROM voted").fetchone()[0] == 0
    term.close()
