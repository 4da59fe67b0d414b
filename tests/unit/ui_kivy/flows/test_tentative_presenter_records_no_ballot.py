"""The 仮投票 presenter on its own: offered on the 投票済 hard stop with the refused contests
preselected, it records a ``tentative`` entry and never a check-in; a person not on the roll goes
through the supervisor PIN first."""

from __future__ import annotations

from ground.events import EventKind
from ui_kivy.fake_service import FakeKioskService
from ui_kivy.presenters.flows.checkin import CheckinPresenter
from ui_kivy.presenters.flows.router import Intent, Router, Screen
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.flows.supervisor import SupervisorPresenter
from ui_kivy.presenters.flows.tentative import TentativePresenter
from ui_kivy.presenters.search import SearchPresenter


def _tentative(service: FakeKioskService) -> tuple[Router, TentativePresenter]:
    router = Router(service, "係員A")
    status = StatusPresenter(router)
    checkin = CheckinPresenter(router, status)
    return router, TentativePresenter(router, checkin, SupervisorPresenter(router, status), SearchPresenter(service))


async def _vote(t: TentativePresenter, voter: str) -> None:
    t.checkin.begin(t.router.service.voter_card(voter), "scan")
    t.checkin.choose_oath("work")
    await t.checkin.confirm_checkin()


async def test_hard_stop_to_tentative_records_no_ballot(service: FakeKioskService) -> None:
    router, t = _tentative(service)
    await _vote(t, "100001")
    t.checkin.next_voter()
    await _vote(t, "100001")
    assert t.checkin.result is not None and [a.id for a in t.checkin.result.actions] == ["next", "tentative"]
    calls = service.checkin_calls
    await t.checkin.on_result_action("tentative")
    assert router.screen is Screen.TENTATIVE and t.tentative is not None
    assert t.tentative.voter_id == "100001" and t.tentative.selected == frozenset(service.config.contest_ids)
    assert not t.submit_tentative()  # who decided is missing
    t.tentative_decided_by("投票管理者")
    assert t.submit_tentative()
    assert service.events[-1].kind is EventKind.TENTATIVE and service.checkin_calls == calls
    t.leave_tentative()
    assert router.screen is Screen.IDLE and t.tentative is None and t.checkin.confirm is None


def test_person_not_on_roll_needs_the_pin(service: FakeKioskService) -> None:
    router, t = _tentative(service)
    router.go(Intent.SEARCH)
    t.search.on_kana("ア")
    t.declare_unlisted()
    assert router.screen is Screen.PIN and t.declare.name == "ア"
    for d in "1234":
        t.supervisor.pin_digit(d)
    assert t.supervisor.pin_submit()
    assert router.screen is Screen.DECLARE_NAME
    t.declare_kana("イ")
    t.declare_name_done()
    assert t.declare_done(skip_birth=True)
    assert router.screen is Screen.TENTATIVE and t.tentative is not None and t.tentative.declared is not None
    assert t.tentative.declared.name == "アイ" and t.tentative.selected == frozenset()
