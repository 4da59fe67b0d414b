"""The enrollment hook: ``KioskFlow.on_enroll`` (wired by the app) shows 端末の登録（スマートカード） in
the supervisor menu and calls it; unset, the menu has no such button and the intent is refused."""

from __future__ import annotations

import pytest

from ground.errors import IllegalTransition
from ui_kivy.presenters.app_flow import KioskFlow, Screen


def _menu(flow: KioskFlow) -> None:
    flow.open_supervisor()
    for d in "1234":
        flow.pin_digit(d)
    assert flow.pin_submit() and flow.screen is Screen.MENU


def test_unset_hides_and_refuses(flow: KioskFlow) -> None:
    assert flow.on_enroll is None
    _menu(flow)
    assert not flow.menu.can_enroll
    with pytest.raises(IllegalTransition):
        flow.enroll()


def test_set_shows_and_calls(flow: KioskFlow) -> None:
    calls: list[str] = []
    flow.on_enroll = lambda: calls.append("enroll")
    with pytest.raises(IllegalTransition):
        flow.enroll()  # only from the supervisor menu, behind the PIN
    _menu(flow)
    assert flow.menu.can_enroll
    flow.enroll()
    assert calls == ["enroll"]
