"""The check-in flow (受付): the confirm screen's marks, 受付, the answer, the hard stop, 次の方へ.

Rules kept here:
- The answer to a check-in is shown only after ``service.checkin`` returned, i.e. after it was
  recorded (and HQ's verdict, or its absence, recorded too); while waiting the screen is 確認中.
- 受付 at an early station waits for a 宣誓書事由 whenever a ballot would be handed; the marks are
  validated by the service (``checkin_marks``), never here.
- 年齢確認 (issue 19): a voter whose 生年月日 不詳 leaves the 18-year rule open gets no ballot until
  the poll worker has checked an ID and chosen which (``choose_age_id``); the check-in carries it
  as the ``age_confirmed`` mark, and the terminal records it in the journal.
- The hard stop offers no action that hands a ballot: ``add_hard_stop_action`` (e.g. 仮投票,
  issue 10) registers a handler that may record anything except a check-in.
- After a result has been drawn the view calls ``result_shown()`` (leaving the result screen does
  too): the service marks it locally, so a check-in recorded but never shown is asked about at the
  next start (the interrupted flow).

The 在外選挙人 flow shares the marks and ``answered``. Never imports Kivy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from ground.errors import MeiboError
from ground.model import StationKind
from ui_kivy.presenters import procedures as proc
from ui_kivy.presenters.confirm import ConfirmState, confirm_state
from ui_kivy.presenters.flows.router import Intent, Router, Screen, illegal
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.result import Action, ResultState, result_state
from ui_kivy.service import BallotLine, CheckinAnswer, KioskService, VoterCard


@dataclass(frozen=True)
class MarksState:
    """The confirm screen's marks: 宣誓書事由 (required at early stations before 受付), 代理/点字."""

    oath_required: bool
    oath: str | None = None
    proxy: bool = False
    braille: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    age_required: bool = False  # 年齢確認: the 生年月日 is 不詳 and the 18-year rule is open
    age_id: str | None = None  # the ID kind the poll worker checked (appliance.eligibility.AGE_ID_KINDS)
    age_choices: tuple[tuple[str, str], ...] = ()

    @property
    def oath_text(self) -> str:
        if not self.oath_required:
            return ""
        label = dict(self.choices).get(self.oath or "", "")
        return f"宣誓書の事由: {label}" if label else "宣誓書の事由を選んでください（選ぶまで受付できません）"


HardStopHandler = Callable[[Router, ResultState], Awaitable[None] | None]
CONFIRM_SCREENS = (Screen.CONFIRM, Screen.ZAIGAI_CONFIRM)


def station_marks(service: KioskService) -> MarksState:
    """Fresh marks for a new voter: the 宣誓書事由 buttons at early stations only."""
    return MarksState(service.station.kind is StationKind.EARLY, choices=proc.oath_choices())


class CheckinPresenter:
    def __init__(self, router: Router, status: StatusPresenter) -> None:
        self.router = router
        self.status = status
        self.confirm: ConfirmState | None = None
        self._preview: tuple[BallotLine, ...] = ()
        self.marks = MarksState(False)
        self.absentee: proc.Panel | None = None
        self.result: ResultState | None = None
        self.result_voter_id: str | None = None  # a roll voter id, or Z:<number> for a 在外選挙人
        self.unshown_seq: int | None = None  # a result on screen not yet marked as shown
        self._hard_stop: dict[str, tuple[Action, HardStopHandler]] = {}
        router.on_leave(Screen.RESULT, self.result_shown)  # whoever pressed on, saw it
        router.on_voter_done(self._forget)

    @property
    def service(self) -> KioskService:
        return self.router.service

    def _forget(self) -> None:
        self.confirm = self.result = self.absentee = None
        self.result_voter_id = None

    def begin(self, card: VoterCard, via: str) -> None:
        """A voter chosen by scan or search: audit-logged, previewed, on the confirm screen."""
        r = self.router
        if not r.can(Intent.VOTER):
            raise illegal(r.screen, Intent.VOTER)
        self.service.audit_lookup([card.voter_id], via, r.clerk)
        self._preview = self.service.preview(card.voter_id)
        self.confirm = confirm_state(card, self._preview, via)
        self.marks = replace(station_marks(self.service), age_required=bool(self.confirm.age_check),
                             age_choices=proc.age_id_choices() if self.confirm.age_check else ())
        self.absentee = proc.absentee_banner(self.service.absentee_warning(card.voter_id))
        r.go(Intent.VOTER)
        r.notify()

    @property
    def can_confirm(self) -> bool:
        """受付 is enabled: at an early station only once a 宣誓書事由 is chosen (when a ballot would be handed)."""
        c = self.confirm
        if c is None:
            return False
        if c.can_hand and self.marks.age_required and self.marks.age_id is None:
            return False  # 年齢確認 first: no ballot before an ID was checked
        return not (c.can_hand and self.marks.oath_required and self.marks.oath is None)

    @property
    def age_panel(self) -> proc.Panel | None:
        """The 年齢確認 box on the confirm screen: amber until an ID was chosen, then green."""
        c = self.confirm
        if c is None or not c.age_check:
            return None
        if c.age_id:
            return proc.Panel("green", f"✓ 年齢確認済み（{c.age_id}で18歳以上を確認）", ())
        return proc.Panel("amber", "！ 年齢確認が必要です — 生年月日が不詳のため、本人確認書類を確認してください",
                          (c.age_check, "確認した書類を下から選ぶと「受付」できます（確認できないときは交付しない）"))

    def choose_age_id(self, code: str) -> None:
        """年齢確認: the poll worker checked this ID (マイナンバーカード …) and the voter is 18 or over."""
        c = self.confirm
        if self.router.screen is not Screen.CONFIRM or c is None or not self.marks.age_required:
            raise illegal(self.router.screen, Intent.CONFIRM)
        label = dict(self.marks.age_choices).get(code)
        if label is None:
            raise ValueError(f"no ID kind {code}")
        self.marks = replace(self.marks, age_id=code)
        self.confirm = confirm_state(c.card, self._preview, c.via, label)
        self.router.notify()

    def choose_oath(self, code: str) -> None:
        if self.router.screen not in CONFIRM_SCREENS or not self.marks.oath_required:
            raise illegal(self.router.screen, Intent.CONFIRM)
        if code not in dict(self.marks.choices):
            raise ValueError(f"no oath reason {code}")
        self.marks = replace(self.marks, oath=code)
        self.router.notify()

    def toggle_proxy(self) -> None:
        """代理投票: on the confirm screen and the 在外選挙人 one (both counted in the 投票録)."""
        if self.router.screen not in CONFIRM_SCREENS:
            raise illegal(self.router.screen, Intent.CONFIRM)
        self.marks = replace(self.marks, proxy=not self.marks.proxy)
        self.router.notify()

    def toggle_braille(self) -> None:
        """点字投票: on the confirm screen and the 在外選挙人 one."""
        if self.router.screen not in CONFIRM_SCREENS:
            raise illegal(self.router.screen, Intent.CONFIRM)
        self.marks = replace(self.marks, braille=not self.marks.braille)
        self.router.notify()

    async def confirm_checkin(self) -> ResultState | None:
        r = self.router
        if self.confirm is None or not r.can(Intent.CONFIRM):
            raise illegal(r.screen, Intent.CONFIRM)
        m = self.marks
        if not self.can_confirm:
            r.tell("本人確認書類で年齢を確認し、確認した書類を選んでから「受付」を押してください"
                   if m.age_required and m.age_id is None else "宣誓書の事由を選んでから「受付」を押してください")
            return None
        try:
            marks = self.service.checkin_marks(oath_reason=m.oath if self.confirm.can_hand else None,
                                               proxy=m.proxy, braille=m.braille, age_confirmed=m.age_id)
        except MeiboError as e:
            r.tell(f"× {e.message}")
            return None
        r.go(Intent.CONFIRM)
        r.notify()
        try:
            answer = await self.service.checkin(self.confirm.voter_id, r.clerk, marks)
        except MeiboError as e:
            r.go(Intent.FAILED)
            r.tell(f"× 受付できませんでした: {e.message}")
            return None
        return self.answered(answer, self.confirm.voter_id)

    def answered(self, answer: CheckinAnswer, voter_key: str) -> ResultState:
        """The recorded answer → the result screen (the 在外選挙人 flow ends here too)."""
        self.result = result_state(answer, tuple(a for a, _ in self._hard_stop.values()))
        self.result_voter_id = voter_key
        self.unshown_seq = answer.seq
        self.router.go(Intent.ANSWERED)
        self.status.refresh_status()
        return self.result

    def result_shown(self) -> None:
        """The result was drawn (the view calls this after the frame): mark it, locally."""
        seq, self.unshown_seq = self.unshown_seq, None
        if seq is not None:
            self.service.mark_shown(seq)

    def add_hard_stop_action(self, action: Action, handler: HardStopHandler) -> None:
        """Offer ``action`` on every 投票済 result (issue 10: 仮投票). It must never hand a ballot."""
        if action.id == "next":
            raise ValueError("next is reserved")
        self._hard_stop[action.id] = (action, handler)

    async def on_result_action(self, action_id: str) -> None:
        r = self.router
        if r.screen is not Screen.RESULT or self.result is None:
            raise illegal(r.screen, Intent.NEXT)
        if action_id not in {a.id for a in self.result.actions}:
            raise ValueError(f"no action {action_id} on this result")
        if action_id == "next":
            return self.next_voter()
        got = self._hard_stop[action_id][1](r, self.result)
        if got is not None:
            await got
        r.notify()

    def next_voter(self) -> None:
        self.router.go(Intent.NEXT)
        self.router.voter_done()
        self.router.notify()
