"""閉鎖 asks 受領数, 交付数 (from the last hourly entry) and 残数 per contest on the digit pad; closing
is refused until every figure is in; the figures then show 受領数 − 交付数 − 残数 and flag any
difference with a word and a sign (not colour alone); the ``count`` entries carry received/left."""

from __future__ import annotations

from ground.events import EventKind
from tests.unit.ui_kivy.conftest import barcode, check_in, type_closing
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen


def _menu(flow: KioskFlow) -> None:
    flow.open_supervisor()
    for d in "1234":
        flow.pin_digit(d)
    assert flow.pin_submit()


async def test_entry_then_balanced_and_unbalanced_figures(flow: KioskFlow, service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100001"))
    await check_in(flow)
    flow.next_voter()
    _menu(flow)
    flow.open_counts()
    flow.enter_hourly_count("shu", 1)
    flow.back()
    flow.close_station()
    e = flow.close_entry
    assert flow.screen is Screen.CLOSE_ENTRY and e.selected == ("shu", 0)
    assert [r.values for r in e.rows][0] == ("", "1", "")  # 交付数 from the hourly entry
    assert e.cell_text(e.rows[0], 0) == "● 受領数\n＿"
    for d in "50":
        flow.closing_digit(d)
    flow.closing_next()
    assert flow.close_entry.selected == ("shu", 1)
    flow.closing_next()
    flow.closing_digit("4")
    flow.closing_digit("9")
    flow.closing_backspace()
    flow.closing_digit("8")  # 50 − 1 − 48 = 1: one ballot unaccounted for
    assert not flow.submit_closing()
    assert flow.notice is not None and flow.notice.text.startswith(
        "× 未入力があります: 最高裁判所裁判官国民審査の受領数、最高裁判所裁判官国民審査の交付数 ほか")
    assert service.station_state().is_open  # nothing closed
    type_closing(flow, {"shinsa": (40, 1, 39), "governor": (30, 1, 29), "mayor": (30, 1, 28)})
    assert flow.submit_closing()
    assert flow.screen is Screen.CLOSING and not service.station_state().is_open
    c = flow.closing
    assert c is not None and c.colour == "amber"
    assert c.title == "！ 閉鎖しました — 数が合わない選挙があります（不一致を確認）"
    lines = "\n".join(c.lines)
    assert "衆議院小選挙区選出議員選挙: 名簿対照数 1 / 交付数 1  ○ 一致" in lines
    assert "受領数 50 − 交付数 1 − 残数 48 = 1  ！ 不一致 差 +1（用紙が足りない）" in lines
    assert "受領数 40 − 交付数 1 − 残数 39 = 0  ○ 一致" in lines
    assert "受領数 30 − 交付数 1 − 残数 28 = 1  ！ 不一致 差 +1（用紙が足りない）" in lines
    finals = [e.data for e in service.events if e.kind is EventKind.COUNT and e.data.get("final")]
    assert [(d["contest"], d["received"], d["issued"], d["left"]) for d in finals] == [
        ("shu", 50, 1, 48), ("shinsa", 40, 1, 39), ("governor", 30, 1, 29), ("mayor", 30, 1, 28)]
    assert service.events[-1].kind is EventKind.STATION and service.events[-1].data["action"] == "close"


async def test_all_balanced_is_green(flow: KioskFlow, service: FakeKioskService) -> None:
    _menu(flow)
    flow.close_station()
    type_closing(flow, {r.contest: (10, 0, 10) for r in flow.close_entry.rows})
    assert flow.submit_closing()
    c = flow.closing
    assert c is not None and c.colour == "green" and c.title == "✓ 閉鎖しました — 以後の受付はできません"
    assert "└ 受領数 10 − 交付数 0 − 残数 10 = 0  ○ 一致" in c.lines


def test_back_from_entry_closes_nothing(flow: KioskFlow, service: FakeKioskService) -> None:
    _menu(flow)
    flow.close_station()
    flow.closing_digit("7")
    flow.back()
    assert flow.screen is Screen.MENU and service.station_state().is_open
    assert not any(e.kind is EventKind.COUNT for e in service.events)
