"""The check-in presenter on its own: at an early station 受付 waits for a 宣誓書事由 (nothing is
recorded before), the answer comes after the service recorded it, and leaving the result marks it
shown, whoever moved on."""

from __future__ import annotations

import pytest

from ground.errors import IllegalTransition
from ground.events import EventKind
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.flows.checkin import CheckinPresenter
from ui_kivy.presenters.flows.router import Intent, Router, Screen
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.result import ResultKind


def _checkin(service: FakeKioskService) -> tuple[Router, CheckinPresenter]:
    router = Router(service, "係員A")
    return router, CheckinPresenter(router, StatusPresenter(router))


async def test_oath_first_then_answer_then_shown(service: FakeKioskService) -> None:
    router, c = _checkin(service)
    service.interrupted_checkins()  # the kiosk's first start sets the shown mark
    c.begin(service.voter_card("100001"), "scan")
    assert router.screen is Screen.CONFIRM and not c.can_confirm
    assert await c.confirm_checkin() is None
    assert service.checkin_calls == 0 and router.notice is not None and "宣誓書の事由" in router.notice.text
    c.choose_oath("work")
    c.toggle_proxy()
    r = await c.confirm_checkin()
    assert r is not None and r.kind is ResultKind.OK and router.screen is Screen.RESULT
    assert c.result_voter_id == "100001" and c.unshown_seq is not None
    ev = next(e for e in reversed(service.events) if e.kind is EventKind.CHECKIN)
    assert (ev.seq, ev.data["oath_reason"], ev.data["proxy"]) == (c.unshown_seq, "work", True)
    assert [x.seq for x in service.interrupted_checkins()] == [c.unshown_seq]  # not yet drawn
    router.go(Intent.NEXT)  # whoever pressed on saw it
    assert c.unshown_seq is None and service.interrupted_checkins() == []


async def test_marks_refused_off_the_confirm_screen(service: FakeKioskService) -> None:
    router, c = _checkin(service)
    with pytest.raises(IllegalTransition):
        c.toggle_braille()
    with pytest.raises(IllegalTransition):
        await c.confirm_checkin()
    assert router.screen is Screen.IDLE


async def test_next_voter_forgets_the_voter(service: FakeKioskService) -> None:
    router, c = _checkin(service)
    c.begin(service.voter_card("100002"), "search")
    c.choose_oath("work")
    await c.confirm_checkin()
    c.next_voter()
    assert router.screen is Screen.IDLE and c.confirm is None and c.result is None and c.result_voter_id is None
