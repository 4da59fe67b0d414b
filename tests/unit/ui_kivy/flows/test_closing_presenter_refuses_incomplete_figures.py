"""The closing presenter on its own: 閉鎖 from the menu asks for 受領数・交付数・残数 of every
contest; with a cell left empty nothing is closed; with all typed the station closes and the panel
shows the figures."""

from __future__ import annotations

from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.flows.closing import ClosingPresenter
from ui_kivy.presenters.flows.router import Intent, Router, Screen
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.flows.supervisor import SupervisorPresenter


def _closing(service: FakeKioskService) -> tuple[Router, ClosingPresenter]:
    router = Router(service, "係員A")
    closing = ClosingPresenter(router, SupervisorPresenter(router, StatusPresenter(router)))
    router.go(Intent.SUPERVISOR)
    router.go(Intent.PIN_OK)  # the menu (the PIN is the supervisor presenter's test)
    return router, closing


def _type(c: ClosingPresenter, contest: str, field: int, n: int) -> None:
    c.closing_select(contest, field)
    for d in str(n):
        c.closing_digit(d)


def test_incomplete_figures_close_nothing(service: FakeKioskService) -> None:
    router, c = _closing(service)
    c.close_station()
    assert router.screen is Screen.CLOSE_ENTRY
    _type(c, "shu", 0, 100)
    assert not c.submit_closing()
    assert router.screen is Screen.CLOSE_ENTRY and service.station_state().is_open
    assert router.notice is not None and "0 のときも 0 を入力" in router.notice.text


def test_all_figures_close_the_station(service: FakeKioskService) -> None:
    router, c = _closing(service)
    c.close_station()
    for row in c.close_entry.rows:
        for i, n in enumerate((100, 0, 100)):
            _type(c, row.contest, i, n)
    assert c.submit_closing()
    assert router.screen is Screen.CLOSING and service.station_state().state == "closed"
    assert c.closing is not None and c.closing.title.startswith("✓ 閉鎖しました")
    assert c.supervisor.menu.can_open and not c.supervisor.menu.can_close
    router.go(Intent.BACK)
    c.close_station()
    assert router.screen is Screen.MENU and router.notice is not None and "すでに閉鎖" in router.notice.text
