"""The interrupted presenter on its own: a check-in recorded but never shown is asked about before
anything else; 交付していない needs the supervisor PIN (戻る returns to the question, nothing
voided), then voids it; the opening check asked for meanwhile comes after."""

from __future__ import annotations

from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.flows.interrupted import INTERRUPTED_VOID_REASON, InterruptedPresenter
from ui_kivy.presenters.flows.router import Router, Screen
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.flows.supervisor import SupervisorPresenter


async def _interrupted(service: FakeKioskService) -> tuple[Router, InterruptedPresenter, int]:
    service.interrupted_checkins()  # the first start sets the shown mark
    ans = await service.checkin("100001", "係員A", service.checkin_marks(oath_reason="work"))
    assert ans.seq is not None  # recorded; the kiosk stopped before drawing it
    router = Router(service, "係員B")
    it = InterruptedPresenter(router, SupervisorPresenter(router, StatusPresenter(router)))
    it.check_interrupted()
    return router, it, ans.seq


async def test_not_handed_needs_the_pin_then_voids(service: FakeKioskService) -> None:
    router, it, seq = await _interrupted(service)
    assert router.screen is Screen.INTERRUPTED and it.interrupted is not None and it.interrupted.row.seq == seq
    it.supervisor.show_opening()  # asked for meanwhile: waits
    assert router.screen is Screen.INTERRUPTED
    it.interrupted_not_handed()
    assert router.screen is Screen.PIN and it.asking_pin
    it.back_from_pin()
    assert router.screen is Screen.INTERRUPTED and not service.recent_checkins()[0].voided
    it.interrupted_not_handed()
    for d in "1234":
        it.supervisor.pin_digit(d)
    assert it.supervisor.pin_submit()
    assert service.recent_checkins()[0].voided and it.interrupted is None
    assert router.screen is Screen.OPENING and it.supervisor.pin_for == "menu"
    assert router.notice is not None and INTERRUPTED_VOID_REASON in router.notice.text


async def test_handed_keeps_it(service: FakeKioskService) -> None:
    router, it, seq = await _interrupted(service)
    it.interrupted_handed()
    assert router.screen is Screen.IDLE and not service.recent_checkins()[0].voided
    assert service.interrupted_checkins() == []
