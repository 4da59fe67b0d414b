"""The supervisor flow (管理者): the PIN, the menu, 開設 and the opening check, 報告, 端末の登録,
取消 (void) and the hourly 交付数.

The PIN pad guards more than the menu: other flows ask for it with ``ask_pin(purpose)`` and say
what a right PIN leads to with ``after_pin(purpose, then)`` (仮投票 of a person not on the roll,
voiding a check-in interrupted before its answer). The opening check waits while a flow holds it
(``hold_opening``: interrupted check-ins are settled first). 閉鎖 is the closing flow's; it
refreshes the menu here. Never imports Kivy; time comes from the service's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ground.errors import MeiboError
from ui_kivy.presenters import procedures as proc
from ui_kivy.presenters.flows.router import Intent, Router, Screen, illegal
from ui_kivy.presenters.flows.status import StatusPresenter
from ui_kivy.presenters.report import report_panel
from ui_kivy.presenters.supervisor import CountsState, PinPad, VoidState, count_views, void_rows

MENU = "menu"  # the PIN's own purpose: the supervisor menu


@dataclass(frozen=True)
class MenuState:
    station_text: str
    can_open: bool
    can_close: bool
    can_enroll: bool = False  # 端末の登録（スマートカード）: shown when the app wired ``on_enroll``


class SupervisorPresenter:
    def __init__(self, router: Router, status: StatusPresenter) -> None:
        self.router = router
        self.status = status
        self.pin = PinPad(router.settings)
        self.pin_for = MENU  # where a right PIN leads (menu, or a purpose given to ``after_pin``)
        self.menu = MenuState("", False, False)
        self.void_state = VoidState()
        self.counts_state = CountsState(0, ())
        self.opening: proc.Panel | None = None
        self.opening_ok = False
        self.report: proc.Panel | None = None
        self.on_enroll: Callable[[], None] | None = None  # 端末の登録 (wired by the app; issue 6)
        self._after_pin: dict[str, Callable[[], None]] = {}
        self._holds: list[Callable[[], bool]] = []

    # -- the PIN -------------------------------------------------------------------------------
    def after_pin(self, purpose: str, then: Callable[[], None]) -> None:
        """A right PIN asked for ``purpose`` calls ``then`` (which moves on and notifies)."""
        self._after_pin[purpose] = then

    def ask_pin(self, purpose: str) -> None:
        self.pin_for = purpose
        self.router.go(Intent.SUPERVISOR)
        self.pin.reset()
        self.router.notify()

    def open_supervisor(self) -> None:
        if self.router.screen is not Screen.IDLE:
            raise illegal(self.router.screen, Intent.SUPERVISOR)
        self.ask_pin(MENU)

    def pin_digit(self, d: str) -> None:
        self.pin.digit(d)
        self.router.notify()

    def pin_backspace(self) -> None:
        self.pin.backspace()
        self.router.notify()

    def pin_submit(self) -> bool:
        svc = self.router.service
        ok = self.pin.submit(svc.check_pin, svc.now())
        if ok and self.pin_for != MENU:
            self._after_pin[self.pin_for]()
            return ok
        if ok:
            self.router.go(Intent.PIN_OK)
            self.refresh_menu()
        self.router.notify()
        return ok

    # -- the menu, 開設 and the opening check ----------------------------------------------------
    def refresh_menu(self) -> None:
        svc = self.router.service
        st = svc.station_state()
        text = {"open": f"開設中（{st.at:%H:%M} 開設）" if st.at else "開設中",
                "closed": f"閉鎖済み（{st.at:%H:%M} 閉鎖）" if st.at else "閉鎖済み",
                "never": "未開設"}[st.state]
        self.menu = MenuState(f"{svc.station.name}: {text}", not st.is_open, st.is_open, self.on_enroll is not None)

    def open_station(self) -> None:
        """開設: from the menu directly, or from the opening-check screen (refused on a mismatch)."""
        r = self.router
        if r.screen is Screen.OPENING:
            if not self.opening_ok:
                return r.tell("× 本部と一致しないため開設できません。選挙管理委員会に連絡してください")
            try:
                r.service.set_station("open", r.clerk)
            except MeiboError as e:
                return r.tell(f"× {e.message}")
            r.go(Intent.NEXT)
            r.tell("投票所を開設しました", "info")
            return
        if r.screen is not Screen.MENU:
            raise illegal(r.screen, Intent.SUPERVISOR)
        try:
            r.service.set_station("open", r.clerk)
        except MeiboError as e:
            self.refresh_menu()
            return r.tell(f"× {e.message}")
        self.refresh_menu()
        r.tell("投票所を開設しました", "info")

    def hold_opening(self, hold: Callable[[], bool]) -> None:
        """``hold()`` true: the opening check waits (the holder shows it when it is done)."""
        self._holds.append(hold)

    def show_opening(self) -> None:
        """開設前の確認: election, contests and roll version against HQ's (after unlock, or from the menu)."""
        if any(hold() for hold in self._holds):
            return
        r = self.router
        chk = r.service.opening_check()
        if r.screen in (Screen.MENU, Screen.INTERRUPTED):
            r.go(Intent.OPENING)
        elif r.screen is not Screen.OPENING:
            r.screen = Screen.OPENING  # the first screen after the station unlock
        self.opening = proc.opening_panel(chk)
        self.opening_ok = chk.status != "mismatch"
        r.notify()

    # -- 報告 and 端末の登録 ------------------------------------------------------------------------
    def open_report(self) -> None:
        r = self.router
        r.go(Intent.REPORT)
        self.report = report_panel(r.service.station_report(), r.service.config, r.service.now())
        self.status.refresh_status()  # the status bar's 未送信 and the report's 本部未確認 read the same moment

    def enroll(self) -> None:
        """端末の登録（スマートカード）: hands over to the app's enrollment screen."""
        if self.router.screen is not Screen.MENU or self.on_enroll is None:
            raise illegal(self.router.screen, Intent.SUPERVISOR)
        self.on_enroll()

    # -- 取消 -------------------------------------------------------------------------------------
    def open_void(self) -> None:
        self.router.go(Intent.VOID)
        self.void_state = VoidState(void_rows(self.router.service.recent_checkins(), None))
        self.router.notify()

    def void_select(self, seq: int) -> None:
        rows = self.router.service.recent_checkins()
        if not any(r.seq == seq and not r.voided for r in rows):
            return self.router.tell("その受付は取り消せません")
        self.void_state = VoidState(void_rows(rows, seq), reason=self.void_state.reason, selected=seq)
        self.router.notify()

    def void_reason(self, reason: str) -> None:
        self.void_state = VoidState(self.void_state.rows, reason=reason, selected=self.void_state.selected)
        self.router.notify()

    def void(self, seq: int | None = None, reason: str | None = None) -> bool:
        r = self.router
        if r.screen is not Screen.VOID:
            raise illegal(r.screen, Intent.VOID)
        seq = self.void_state.selected if seq is None else seq
        reason = self.void_state.reason if reason is None else reason
        if seq is None or not reason:
            r.tell("取り消す受付と理由を選んでください")
            return False
        try:
            r.service.void(seq, reason, r.clerk)
        except MeiboError as e:
            r.tell(f"× {e.message}")
            return False
        self.void_state = VoidState(void_rows(r.service.recent_checkins(), None))
        r.tell(f"受付 {seq} を取り消しました（理由: {reason}）", "info")
        return True

    # -- 交付数 each hour --------------------------------------------------------------------------
    def open_counts(self) -> None:
        self.router.go(Intent.COUNTS)
        self._refresh_counts(None, "")
        self.router.notify()

    def _refresh_counts(self, selected: str | None, entry: str, message: str = "") -> None:
        svc = self.router.service
        self.counts_state = CountsState(svc.now().hour, count_views(svc.counts(), selected, entry), selected, entry,
                                        message)

    def counts_select(self, contest: str) -> None:
        self._refresh_counts(contest, "")
        self.router.notify()

    def counts_digit(self, d: str) -> None:
        cs = self.counts_state
        if cs.selected is None or not (len(d) == 1 and d.isdigit()) or len(cs.entry) >= 6:
            return
        self._refresh_counts(cs.selected, cs.entry + d)
        self.router.notify()

    def counts_backspace(self) -> None:
        cs = self.counts_state
        self._refresh_counts(cs.selected, cs.entry[:-1])
        self.router.notify()

    def enter_hourly_count(self, contest: str | None = None, issued: int | None = None) -> bool:
        """Record 交付数 for ``contest`` this hour (default: the selected row and the typed digits)."""
        r = self.router
        if r.screen is not Screen.COUNTS:
            raise illegal(r.screen, Intent.COUNTS)
        cs = self.counts_state
        contest = contest or cs.selected
        if issued is None:
            issued = int(cs.entry) if cs.entry else None
        if contest is None or issued is None:
            r.tell("選挙を選び、交付数を入力してください")
            return False
        try:
            r.service.record_count(contest, r.service.now().hour, issued, r.clerk)
        except MeiboError as e:
            r.tell(f"× {e.message}")
            return False
        self._refresh_counts(None, "")
        row = next(x for x in self.counts_state.rows if x.contest == contest)
        r.tell(f"{row.name}: 交付数 {issued} を記録しました。{row.diff_text}", "error" if row.mismatch else "info")
        return True
