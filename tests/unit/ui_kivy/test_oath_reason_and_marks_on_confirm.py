"""宣誓書事由 at an early station: the confirm screen offers the statutory reasons, 受付 waits until one
is chosen, and the check-in carries it as a mark with 代理投票 / 点字投票. A day station asks none."""

from __future__ import annotations

import pytest

from ground.errors import IllegalTransition
from ground.clock import FixedClock
from tests.builders import jst
from tests.unit.ui_kivy.conftest import CONFIG, VOTERS, barcode
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.procedures import oath_choices


async def test_checkin_waits_for_the_oath_reason_and_carries_the_marks(flow: KioskFlow,
                                                                       service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100001"))
    assert flow.marks.oath_required and flow.marks.choices == oath_choices() and flow.marks.oath is None
    assert not flow.can_confirm and "選ぶまで受付できません" in flow.marks.oath_text
    assert await flow.confirm_checkin() is None
    assert flow.screen is Screen.CONFIRM and service.checkin_calls == 0
    assert flow.notice is not None and "宣誓書の事由" in flow.notice.text
    with pytest.raises(ValueError):
        flow.choose_oath("holiday")
    flow.choose_oath("illness")
    flow.toggle_proxy()
    flow.toggle_braille()
    flow.toggle_braille()  # a toggle: off again
    assert flow.can_confirm and flow.marks.oath_text == "宣誓書の事由: 3号 疾病・負傷・妊娠・身体の障害等で歩行困難"
    r = await flow.confirm_checkin()
    assert r is not None and r.title == "✓ 受付完了"
    [ev] = [e for e in service.events if e.kind.value == "checkin"]
    assert ev.data["oath_reason"] == "illness" and ev.data["proxy"] is True and "braille" not in ev.data
    with pytest.raises(IllegalTransition):
        flow.choose_oath("work")  # only on the confirm screen
    flow.next_voter()
    flow.on_barcode(barcode("100002"))
    assert flow.marks.oath is None and not flow.marks.proxy  # fresh for the next voter


async def test_day_station_asks_no_oath() -> None:
    svc = FakeKioskService(CONFIG, CONFIG.station("D01"), list(VOTERS), FixedClock(jst(2027, 4, 25, 10)))
    svc.set_station("open", "管理者")
    flow = KioskFlow(svc, "係員A")
    flow.on_barcode(barcode("100001"))
    assert not flow.marks.oath_required and flow.can_confirm and flow.marks.oath_text == ""
    with pytest.raises(IllegalTransition):
        flow.choose_oath("work")
    flow.toggle_braille()
    r = await flow.confirm_checkin()
    assert r is not None and r.hand
    [ev] = [e for e in svc.events if e.kind.value == "checkin"]
    assert ev.data.get("braille") is True and "oath_reason" not in ev.data


async def test_nothing_to_hand_needs_no_oath(flow: KioskFlow, service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100005"))  # 抹消: the red 対象外 answer is shown without a reason chosen
    assert flow.confirm is not None and not flow.confirm.can_hand and flow.can_confirm
    r = await flow.confirm_checkin()
    assert r is not None and r.title.startswith("× 対象外")
