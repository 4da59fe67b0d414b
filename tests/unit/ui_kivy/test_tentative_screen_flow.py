"""The 仮投票 screen in the flow: offered on the red 投票済 stop and on a supervisor's doubt of identity,
never elsewhere; the form needs a reason, who decided and the contests; recording writes one
``tentative`` entry and no check-in, and the screen then says to use the 仮投票 envelope."""

from __future__ import annotations

import pytest

from ground.errors import IllegalTransition
from tests.unit.ui_kivy.conftest import barcode, check_in
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.procedures import DECIDERS, TENTATIVE_INSTRUCTION


async def test_hard_stop_then_tentative_recorded(flow: KioskFlow, service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100001"))
    await check_in(flow)
    flow.next_voter()
    flow.on_barcode(barcode("100001"))
    r = await check_in(flow)
    assert r is not None and r.hard_stop and [a.id for a in r.actions] == ["next", "tentative"]
    calls, n = service.checkin_calls, len(service.events)
    await flow.on_result_action("tentative")
    t = flow.tentative
    assert flow.screen is Screen.TENTATIVE and t is not None
    assert t.reason == "claims_not_voted" and t.selected == frozenset({"shu", "shinsa", "governor", "mayor"})
    assert not t.can_submit  # who decided is missing
    assert not flow.submit_tentative() and "決定者" in flow.tentative.message
    flow.on_barcode(barcode("100002"))  # a scan is refused on the supervisor's form
    assert flow.screen is Screen.TENTATIVE and flow.notice is not None
    flow.tentative_reason("witness_objection")
    flow.tentative_decided_by(DECIDERS[1])
    flow.tentative_toggle("mayor")
    assert flow.tentative.can_submit and flow.tentative.selected == frozenset({"shu", "shinsa", "governor"})
    assert flow.submit_tentative()
    done = flow.tentative
    assert done.done is not None and done.done.reason.ja == "立会人異議" and done.done.decided_by == "投票立会人"
    assert "仮投票を記録しました" in done.message and "通常の受付ではありません" in done.message
    assert TENTATIVE_INSTRUCTION.startswith("仮投票用の封筒で投票してもらう")
    new = service.events[n:]
    assert [e.kind.value for e in new] == ["tentative"] and service.checkin_calls == calls
    assert new[0].data["contests"] == ["shu", "shinsa", "governor"] and new[0].data["voter"] == "100001"
    flow.tentative_toggle("mayor")  # recorded: the form no longer changes
    assert flow.tentative.selected == done.selected
    flow.leave_tentative()
    assert flow.screen is Screen.IDLE and flow.tentative is None and flow.result is None


async def test_supervisor_doubt_on_confirm_and_cancel_records_nothing(flow: KioskFlow,
                                                                      service: FakeKioskService) -> None:
    flow.on_barcode(barcode("100002"))
    flow.doubt_identity()
    t = flow.tentative
    assert flow.screen is Screen.TENTATIVE and t is not None and t.reason == "supervisor_refusal"
    assert t.selected == frozenset({"shu", "shinsa", "governor", "mayor"}) and t.voter_id == "100002"
    n = len(service.events)
    flow.leave_tentative()  # 取りやめ
    assert flow.screen is Screen.IDLE and len(service.events) == n


async def test_no_tentative_on_green_or_from_idle(flow: KioskFlow) -> None:
    with pytest.raises(IllegalTransition):
        flow.doubt_identity()
    with pytest.raises(IllegalTransition):
        flow.submit_tentative()
    flow.on_barcode(barcode("100002"))
    r = await check_in(flow)
    assert r is not None and [a.id for a in r.actions] == ["next"]
    with pytest.raises(ValueError):
        await flow.on_result_action("tentative")
