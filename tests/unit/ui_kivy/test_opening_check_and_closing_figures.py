"""Supervisor: the opening check (green / amber unchecked / red mismatch naming both versions; a
mismatch cannot be opened) and closing, which shows the station's figures and stops check-ins."""

from __future__ import annotations

from tests.unit.ui_kivy.conftest import CONFIG, VOTERS, barcode, check_in, close_balanced
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ground.clock import FixedClock
from tests.builders import EARLY_NOON


def _menu(flow: KioskFlow) -> None:
    flow.open_supervisor()
    for d in "1234":
        flow.pin_digit(d)
    assert flow.pin_submit()


def test_opening_check_gates_opening() -> None:
    svc = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), FixedClock(EARLY_NOON), hq_roll_version=2)
    flow = KioskFlow(svc, "管理者")
    flow.show_opening()  # the first screen after the station unlock
    assert flow.screen is Screen.OPENING and flow.opening is not None and flow.opening.colour == "red"
    assert any("第1版" in x and "第2版" in x for x in flow.opening.lines) and not flow.opening_ok
    flow.open_station()
    assert svc.station_state().state == "never" and flow.notice is not None and flow.notice.level == "error"
    svc.hq_roll_version = None
    flow.show_opening()  # 本部と再確認: HQ not heard → amber, may open (check again later)
    assert flow.opening.colour == "amber" and flow.opening.title.startswith("！") and flow.opening_ok
    svc.hq_roll_version = 1
    flow.show_opening()
    assert flow.opening.colour == "green" and flow.opening.title.startswith("✓")
    flow.open_station()
    assert flow.screen is Screen.IDLE and svc.station_state().is_open and flow.idle.station_open


async def test_close_shows_figures_and_stops_checkins(flow: KioskFlow, service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100001"))
    flow.toggle_proxy()
    await check_in(flow, "travel")
    flow.next_voter()
    _menu(flow)
    flow.close_station()
    assert close_balanced(flow)
    c = flow.closing
    assert flow.screen is Screen.CLOSING and c is not None and c.colour == "green"
    text = "\n".join(c.lines)
    assert "投票者数（受付） 1 人" in text and "代理投票 1 件" in text and "旅行・用務・事故で区域外に滞在 1" in text
    flow.back()
    flow.back()
    flow.on_barcode(barcode("100002"))
    assert flow.screen is Screen.IDLE and flow.notice is not None and "開設されていません" in flow.notice.text
