"""不在者投票 papers held: the confirm screen warns (with the procedure), never blocks the check-in."""

from __future__ import annotations

from tests.unit.ui_kivy.conftest import barcode, check_in
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow


async def test_absentee_is_warned_not_blocked(flow: KioskFlow, service: FakeKioskService) -> None:
    service.absentee[("100001", "governor")] = "issued"
    service.absentee[("100001", "mayor")] = "accepted"  # already accepted: not a paper held
    flow.on_barcode(barcode("100001"))
    b = flow.absentee
    assert b is not None and b.colour == "amber" and b.title.startswith("！ 不在者投票")
    assert "神奈川県知事選挙（用紙交付済）" in b.title and "市長" not in b.title
    assert any("返還" in x for x in b.lines) and any("受付はできます" in x for x in b.lines)
    assert flow.can_confirm is False  # only the 宣誓書事由 is missing, not a block
    r = await check_in(flow)
    assert r is not None and r.title == "✓ 受付完了" and len(r.hand) == 4
    flow.next_voter()
    assert flow.absentee is None
    flow.on_barcode(barcode("100002"))
    assert flow.absentee is None
