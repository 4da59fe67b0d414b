"""The 在外選挙人 flow: the 在外選挙人番号 on a digit pad, the voter and the 在外選挙人証番号, 受付.

Taken only at early stations and designated ones (``service.zaigai_allowed``), and only once the
station is open. A number not on the 在外選挙人名簿 is a message on the number screen, nothing
else; a voter struck off (抹消) is shown with a red notice and cannot be checked in. The check-in
is recorded, then HQ's verdict awaited, then the usual result screens (the check-in flow's
``answered``); the marks (宣誓書事由, 代理, 点字) are the check-in flow's. Never imports Kivy.
"""

from __future__ import annotations

from dataclasses import replace

from ground.errors import MeiboError
from ui_kivy.presenters import zaigai as zg
from ui_kivy.presenters.flows.checkin import CheckinPresenter, MarksState, station_marks
from ui_kivy.presenters.flows.router import Intent, Router, Screen, illegal
from ui_kivy.presenters.result import ResultState


class ZaigaiPresenter:
    def __init__(self, router: Router, checkin: CheckinPresenter) -> None:
        self.router = router
        self.checkin = checkin
        self.zaigai = zg.ZaigaiState()
        router.on_voter_done(self._forget)

    def _forget(self) -> None:
        self.zaigai = zg.ZaigaiState()

    def back_to_number(self) -> None:
        """戻る from the voter: the number stays typed, the voter and the card number go."""
        self.zaigai = replace(self.zaigai, card=None, card_no="", message="")

    def open_zaigai(self) -> None:
        r, svc = self.router, self.router.service
        if r.screen is not Screen.IDLE:
            raise illegal(r.screen, Intent.ZAIGAI)
        if not svc.zaigai_allowed():
            return r.tell("× この投票所では在外選挙人の投票を受け付けません（期日前投票所または指定の投票所へご案内ください）")
        if not svc.station_state().is_open:
            return r.tell("投票所が開設されていません。管理者メニューから開設してください")
        self.zaigai = zg.ZaigaiState()
        self.checkin.marks = station_marks(svc)
        r.go(Intent.ZAIGAI)
        r.notify()

    def zaigai_digit(self, d: str) -> None:
        if self.router.screen is Screen.ZAIGAI_ID:
            self.zaigai = zg.id_digit(self.zaigai, d)
        elif self.router.screen is Screen.ZAIGAI_CONFIRM:
            self.zaigai = zg.card_digit(self.zaigai, d)
        else:
            raise illegal(self.router.screen, Intent.ZAIGAI)
        self.router.notify()

    def zaigai_letters(self) -> None:
        """英字 ⇄ 数字: the card number pad's letter keys."""
        if self.router.screen is not Screen.ZAIGAI_CONFIRM:
            raise illegal(self.router.screen, Intent.ZAIGAI)
        self.zaigai = zg.toggle_letters(self.zaigai)
        self.router.notify()

    def zaigai_backspace(self) -> None:
        if self.router.screen is Screen.ZAIGAI_ID:
            self.zaigai = zg.id_backspace(self.zaigai)
        elif self.router.screen is Screen.ZAIGAI_CONFIRM:
            self.zaigai = zg.card_backspace(self.zaigai)
        else:
            raise illegal(self.router.screen, Intent.ZAIGAI)
        self.router.notify()

    def zaigai_lookup(self) -> bool:
        """検索: the 在外選挙人番号 typed → the confirm screen (NotFound: a message, nothing else)."""
        r = self.router
        if r.screen is not Screen.ZAIGAI_ID:
            raise illegal(r.screen, Intent.VOTER)
        z = self.zaigai
        if not z.can_lookup:
            self.zaigai = replace(z, message="在外選挙人番号を入力してください")
            r.tell(self.zaigai.message)
            return False
        try:
            card = r.service.zaigai_lookup(z.zaigai_id)
        except MeiboError as e:
            self.zaigai = replace(z, message=f"× {e.message}")
            r.tell(self.zaigai.message)
            return False
        self.zaigai = replace(z, card=card, card_no="", message="")
        m = self.checkin.marks
        self.checkin.marks = MarksState(m.oath_required, choices=m.choices)  # 代理/点字 are per voter
        r.go(Intent.VOTER)
        if not card.registered:
            r.tell("× 在外選挙人名簿から抹消されています。交付できません")
        r.notify()
        return True

    @property
    def can_zaigai_checkin(self) -> bool:
        m = self.checkin.marks
        return self.zaigai.can_checkin and not (m.oath_required and m.oath is None)

    async def zaigai_checkin(self) -> ResultState | None:
        """受付 for the 在外選挙人 on screen: recorded, then HQ's verdict, then the usual result screens."""
        r = self.router
        if r.screen is not Screen.ZAIGAI_CONFIRM or self.zaigai.card is None:
            raise illegal(r.screen, Intent.CONFIRM)
        z, card = self.zaigai, self.zaigai.card
        if len(z.card_no) < 4:
            r.tell("在外選挙人証の番号を入力してください")
            return None
        m = self.checkin.marks
        if m.oath_required and m.oath is None:
            r.tell("宣誓書の事由を選んでから「受付」を押してください")
            return None
        try:
            marks = r.service.checkin_marks(oath_reason=m.oath, proxy=m.proxy, braille=m.braille)
        except MeiboError as e:
            r.tell(f"× {e.message}")
            return None
        r.go(Intent.CONFIRM)
        r.notify()
        try:
            answer = await r.service.zaigai_checkin(z.zaigai_id, z.card_no, r.clerk, marks)
        except MeiboError as e:
            r.go(Intent.ZAIGAI_FAILED)
            self.zaigai = replace(self.zaigai, card_no="", letters=False, message=f"× {e.message}")
            r.tell(f"× 受付できませんでした: {e.message}")
            return None
        return self.checkin.answered(answer, card.voter_key)
