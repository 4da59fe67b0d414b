"""The lookup flow: 待受, a barcode scan, the kana search with birth-date narrowing, and the pick.

Rules kept here:
- A scan is taken only where no voter is being confirmed (待受, search, result); elsewhere it is
  refused with a notice, never silently switching the voter on screen.
- Every voter shown is audit-logged through the service: the confirm screen (``via`` scan or
  search) and each row of a result list shown.
- No voter is opened before a supervisor opened the station.

The chosen voter goes on to the check-in flow (``CheckinPresenter.begin``). Never imports Kivy.
"""

from __future__ import annotations

from typing import Any

from ground.barcode import BarcodeCheckDigit, BarcodeOtherElection
from ground.errors import MeiboError, NotFound
from ui_kivy.presenters.flows.checkin import CheckinPresenter
from ui_kivy.presenters.flows.router import SCAN_SCREENS, SUPERVISOR_SCREENS, Intent, Router, Screen
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.idle import IdleState, idle_state
from ui_kivy.presenters.search import SearchPresenter
from ui_kivy.service import VoterCard

MISREAD = "× 読み取り誤りです。もう一度読み取ってください"
OTHER_ELECTION = "× この選挙の入場整理券ではありません。日付と選挙名を確かめてください"
NOT_ON_ROLL = "× この入場整理券の選挙人は名簿にありません。選挙管理委員会に確認してください"


class LookupPresenter:
    def __init__(self, router: Router, checkin: CheckinPresenter, status: StatusPresenter) -> None:
        self.router = router
        self.checkin = checkin
        self.status = status
        self.search = SearchPresenter(router.service)
        self.idle: IdleState = idle_state(router.service.station.name, router.clerk,
                                          router.service.station_state().state)
        self.zaigai_here = router.service.zaigai_allowed()  # the 在外選挙人 button (early and designated stations)
        router.on_enter(Screen.IDLE, self.refresh_idle)

    def refresh_idle(self) -> None:
        svc = self.router.service
        self.idle = idle_state(svc.station.name, self.router.clerk, svc.station_state().state)
        self.zaigai_here = svc.zaigai_allowed()  # a 在外 package may have arrived meanwhile

    # -- scanning ------------------------------------------------------------------------------
    def _scan_allowed(self) -> bool:
        r = self.router
        if r.screen in SCAN_SCREENS:
            return True
        if r.screen is Screen.INTERRUPTED:
            r.tell("中断された受付の確認が先です。「交付した」か「交付していない」を選んでください")
        elif r.screen in SUPERVISOR_SCREENS:
            r.tell("管理者画面ではスキャンできません。戻ってから読み取ってください")
        else:
            r.tell("確認中の方がいます。「戻る」を押してから次の入場整理券を読み取ってください")
        return False

    def on_barcode(self, raw: str) -> None:
        """A barcode's text (keyboard-wedge scanners, or tests): parsed by the service."""
        if not self._scan_allowed():
            return
        try:
            card = self.router.service.lookup_barcode(raw)
        except BarcodeCheckDigit:
            return self.router.tell(f"{MISREAD}（チェックディジット不一致）")
        except BarcodeOtherElection:
            return self.router.tell(OTHER_ELECTION)
        except MeiboError as e:
            return self.router.tell(f"× {e.message}")
        self._open_voter(card, "scan")

    def on_scan_event(self, ev: Any) -> None:
        """A ``hardware.scanner.base`` event (the driver already parsed and de-duplicated it)."""
        kind = getattr(ev, "kind", "")
        if kind == "voter":
            if not self._scan_allowed():
                return
            try:
                card = self.router.service.voter_card(ev.voter_id)
            except NotFound:
                return self.router.tell(NOT_ON_ROLL)
            self._open_voter(card, "scan")
        elif kind == "misread":
            self.router.tell(MISREAD)
        elif kind == "other_election":
            self.router.tell(OTHER_ELECTION)
        elif kind == "double_scan":
            self.router.tell("同じ入場整理券を続けて読み取りました（二重読み取り・無視しました）", "info")
        elif kind in ("connected", "disconnected"):
            self.status.set_scanner(kind == "connected")

    def _open_voter(self, card: VoterCard, via: str) -> None:
        if not self.router.service.station_state().is_open:
            return self.router.tell("投票所が開設されていません。管理者メニューから開設してください")
        self.checkin.begin(card, via)

    # -- search --------------------------------------------------------------------------------
    def open_search(self) -> None:
        self.router.go(Intent.SEARCH)
        self.search.reset()
        self.router.notify()

    def on_kana(self, key: str) -> None:
        self.search.on_kana(key)
        self.router.notify()

    def show_results(self) -> None:
        if not self.search.state.query:
            return self.router.tell("カナを入力してください")
        self.router.go(Intent.SHOW_RESULTS)
        self._audit_rows()
        self.router.notify()

    def _audit_rows(self) -> None:
        """The result list shows personal data: every row shown is audit-logged."""
        ids = [r.voter_id for r in self.search.state.rows]
        if ids:
            self.router.service.audit_lookup(ids, "search", self.router.clerk)

    def open_birth(self) -> None:
        self.router.go(Intent.BIRTH)
        self.router.notify()

    def birth_era(self, era: str) -> None:
        self.search.birth_era(era)
        self.router.notify()

    def birth_digit(self, d: str) -> None:
        self.search.birth_digit(d)
        self.router.notify()

    def birth_next(self) -> None:
        self.search.birth_next()
        self.router.notify()

    def birth_clear(self) -> None:
        self.search.birth_clear()
        self.router.notify()

    def birth_apply(self) -> None:
        if self.search.birth_apply():
            self.router.go(Intent.APPLY)
            self._audit_rows()
        self.router.notify()

    def pick(self, voter_id: str) -> None:
        card = self.search.card(voter_id)
        if card is None:
            return self.router.tell("その方は一覧にありません")
        self._open_voter(card, "search")
