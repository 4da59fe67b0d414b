"""報告 (supervisor menu): the day's figures so far per contest (名簿対照数, latest 交付数, difference
in words), check-ins by hour, 仮投票 / 代理 / 点字 / 宣誓書事由 / 在外選挙人, events HQ has not
acknowledged and the last sync. It changes nothing."""

from __future__ import annotations

from datetime import timedelta

from ground.clock import FixedClock
from tests.unit.ui_kivy.conftest import barcode, check_in
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen


async def test_report_lines(flow: KioskFlow, service: FakeKioskService, clock: FixedClock) -> None:
    flow.on_barcode(barcode("100001"))
    flow.toggle_braille()
    await check_in(flow, "travel")
    flow.next_voter()
    clock.set(clock.now() + timedelta(hours=1))
    service.online = False
    flow.on_barcode(barcode("100002"))
    flow.toggle_proxy()
    await check_in(flow)
    await flow.on_result_action("next")
    service.record_tentative(contests=["shu"], reason="witness_objection", decided_by="投票管理者", clerk="c",
                             voter_id="100003")
    flow.open_supervisor()
    for d in "1234":
        flow.pin_digit(d)
    flow.pin_submit()
    flow.open_counts()
    flow.enter_hourly_count("shu", 3)
    flow.back()
    n = len(service.events)
    flow.open_report()
    r = flow.report
    assert flow.screen is Screen.REPORT and r is not None and len(service.events) == n
    assert r.colour == "amber" and r.title == "！ 投票所の報告（13:00 現在）— 名簿対照数と交付数に差があります"
    text = "\n".join(r.lines)
    assert "衆議院小選挙区選出議員選挙: 名簿対照数 2 / 交付数 3  ！ 不一致 差 +1（交付数が多い）" in text
    assert "横浜市長選挙: 名簿対照数 2 / 交付数 未入力" in text
    assert "時間別の受付（人）: 12時 1  13時 1" in text
    assert "仮投票 1 件  代理投票 1 件  点字投票 1 件  在外選挙人 0 人" in text
    assert "宣誓書の事由: 旅行・用務・事故で区域外に滞在 1、仕事・用務に従事 1" in text
    assert "本部未確認 5 件（本部: 未接続）  最終同期 12:00" in text
    flow.back()
    assert flow.screen is Screen.MENU and service.station_state().is_open
