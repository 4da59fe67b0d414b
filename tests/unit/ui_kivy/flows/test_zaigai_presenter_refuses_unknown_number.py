"""The 在外選挙人 presenter on its own (no KioskFlow, no window): a number not on the 在外選挙人名簿
is a message on the number screen and records nothing; the right number shows the voter, and 戻る
from there keeps the number typed."""

from __future__ import annotations

from ground.clock import FixedClock
from tests.builders import EARLY_NOON
from tests.unit.ui_kivy.conftest import CONFIG, VOTERS
from tests.unit.ui_kivy.zaigai_data import zaigai_voters
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.flows.checkin import CheckinPresenter
from ui_kivy.presenters.flows.router import Intent, Router, Screen
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.flows.zaigai import ZaigaiPresenter


def _zaigai() -> tuple[Router, ZaigaiPresenter, FakeKioskService]:
    svc = FakeKioskService(CONFIG, CONFIG.station("E01"), list(VOTERS), FixedClock(EARLY_NOON), zaigai=zaigai_voters())
    svc.set_station("open", "管理者")
    router = Router(svc, "係員A")
    return router, ZaigaiPresenter(router, CheckinPresenter(router, StatusPresenter(router))), svc


def test_unknown_number_is_a_message_and_nothing_more() -> None:
    router, z, svc = _zaigai()
    entries = len(svc.events)
    z.open_zaigai()
    assert router.screen is Screen.ZAIGAI_ID
    assert z.checkin.marks.oath_required  # an early station: the 宣誓書事由 comes first
    for d in "123":
        z.zaigai_digit(d)
    assert not z.zaigai_lookup()
    assert router.screen is Screen.ZAIGAI_ID and z.zaigai.card is None
    assert router.notice is not None and router.notice.text.startswith("× ") and "在外選挙人名簿にありません" in z.zaigai.message
    assert len(svc.events) == entries  # nothing recorded, not even a lookup

    for _ in "123":
        z.zaigai_backspace()
    for d in "900001":
        z.zaigai_digit(d)
    assert z.zaigai_lookup()
    assert router.screen is Screen.ZAIGAI_CONFIRM and z.zaigai.card is not None
    assert z.zaigai.card.name == "鈴木 一郎" and not z.can_zaigai_checkin  # no card number yet

    router.go(Intent.BACK)
    z.back_to_number()
    assert router.screen is Screen.ZAIGAI_ID and z.zaigai.zaigai_id == "900001" and z.zaigai.card is None


async def test_struck_off_voter_is_shown_red_and_not_checked_in() -> None:
    router, z, svc = _zaigai()
    z.open_zaigai()
    for d in "900002":
        z.zaigai_digit(d)
    assert z.zaigai_lookup()
    assert router.notice is not None and "抹消" in router.notice.text
    assert not z.can_zaigai_checkin
    assert svc.checkin_calls == 0
