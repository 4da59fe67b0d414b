"""The supervisor presenter on its own: a wrong PIN stays on the pad, a right one opens the menu, or
leads where another flow asked (``after_pin``); 取消 of a check-in needs a reason; the opening check
waits while a flow holds it."""

from __future__ import annotations

from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.flows.router import Router, Screen
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.flows.supervisor import SupervisorPresenter


def _supervisor(service: FakeKioskService) -> tuple[Router, SupervisorPresenter]:
    router = Router(service, "係員A")
    return router, SupervisorPresenter(router, StatusPresenter(router))


def _type(s: SupervisorPresenter, pin: str) -> bool:
    for d in pin:
        s.pin_digit(d)
    return s.pin_submit()


async def test_pin_menu_and_void(service: FakeKioskService) -> None:
    router, s = _supervisor(service)
    ans = await service.checkin("100001", "係員A", service.checkin_marks(oath_reason="work"))
    s.open_supervisor()
    assert router.screen is Screen.PIN
    assert not _type(s, "9999") and router.screen is Screen.PIN and "あと 2 回" in s.pin.state.message
    assert _type(s, "1234") and router.screen is Screen.MENU
    assert s.menu.can_close and not s.menu.can_open and not s.menu.can_enroll
    s.open_void()
    assert ans.seq is not None
    s.void_select(ans.seq)
    assert not s.void()  # no reason yet
    s.void_reason("投票せずに帰った")
    assert s.void() and router.notice is not None and router.notice.level == "info"
    assert service.recent_checkins()[0].voided


def test_pin_leads_where_another_flow_asked(service: FakeKioskService) -> None:
    router, s = _supervisor(service)
    seen: list[Screen] = []
    s.after_pin("elsewhere", lambda: seen.append(router.screen))
    s.ask_pin("elsewhere")
    assert _type(s, "1234") and seen == [Screen.PIN] and router.screen is Screen.PIN  # the flow moves itself


def test_opening_check_waits_on_a_hold(service: FakeKioskService) -> None:
    router, s = _supervisor(service)
    held = [True]
    s.hold_opening(lambda: held[0])
    s.show_opening()
    assert router.screen is Screen.IDLE and s.opening is None
    held[0] = False
    s.show_opening()
    assert router.screen is Screen.OPENING and s.opening is not None and s.opening_ok


async def test_hourly_count_recorded(service: FakeKioskService) -> None:
    router, s = _supervisor(service)
    s.open_supervisor()
    _type(s, "1234")
    s.open_counts()
    assert not s.enter_hourly_count()  # nothing chosen
    s.counts_select("shu")
    for d in "3":
        s.counts_digit(d)
    assert s.enter_hourly_count() and service.counts()[0].issued == 3
