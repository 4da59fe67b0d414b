"""投票済: a red hard stop; no action on it hands a ballot (仮投票 plugs in as a hard-stop action)."""

import pytest

from ground.errors import IllegalTransition
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.app_flow import KioskFlow, Screen
from ui_kivy.presenters.result import Action, ResultKind, ResultState

from tests.unit.ui_kivy.conftest import barcode, check_in


async def _vote(flow: KioskFlow, vid: str) -> None:
    flow.on_barcode(barcode(vid))
    await check_in(flow)
    flow.next_voter()


async def test_second_visit_is_red_with_where_and_when(flow: KioskFlow, service: FakeKioskService) -> None:
    await _vote(flow, "100001")
    flow.on_barcode(barcode("100001"))
    assert flow.confirm is not None and not flow.confirm.can_hand
    assert flow.confirm.lines[0].text.startswith("× 投票済（中区役所 期日前投票所 4月20日 12:00）")
    calls = service.checkin_calls
    r = await check_in(flow)
    assert r is not None and r.kind is ResultKind.ALREADY_VOTED
    assert r.colour == "red" and r.title == "× 投票済 — 交付しない"
    assert r.hand == () and len(r.withhold) == 4 and r.hard_stop
    assert "中区役所 期日前投票所 4月20日 12:00 に交付済み" in r.withhold[0].reason
    assert [a.id for a in r.actions] == ["next", "tentative"]  # 仮投票 is the only other way out
    assert service.checkin_calls == calls + 1
    assert [e.kind.value for e in service.events].count("checkin") == 1  # nothing new was handed


async def test_no_override_hands_a_ballot_even_with_a_tentative_action(flow: KioskFlow,
                                                                       service: FakeKioskService) -> None:
    seen: list[ResultState] = []
    flow.add_hard_stop_action(Action("tentative", "仮投票"), lambda f, r: seen.append(r))
    await _vote(flow, "100001")
    flow.on_barcode(barcode("100001"))
    r = await check_in(flow)
    assert r is not None and [a.id for a in r.actions] == ["next", "tentative"]
    calls = service.checkin_calls
    for a in r.actions:
        if a.id != "next":
            await flow.on_result_action(a.id)
    assert service.checkin_calls == calls and seen == [r]
    assert flow.screen is Screen.RESULT
    with pytest.raises(ValueError):
        await flow.on_result_action("override")
    with pytest.raises(IllegalTransition):
        await check_in(flow)  # no way back into a check-in from the stop
    await flow.on_result_action("next")
    assert flow.screen is Screen.IDLE


async def test_green_result_offers_no_tentative(flow: KioskFlow) -> None:
    flow.add_hard_stop_action(Action("tentative", "仮投票"), lambda f, r: None)
    flow.on_barcode(barcode("100002"))
    r = await check_in(flow)
    assert r is not None and [a.id for a in r.actions] == ["next"]
