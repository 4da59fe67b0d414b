"""The closing flow (閉鎖): 受領数・交付数・残数 per contest typed on a digit pad, then the close.

閉鎖 is a supervisor's act from the menu, never a clock cut-off. Every cell must be typed (0 too)
before ``submit_closing``; the figures and the close are recorded in one transaction by the
service, then the closing panel shows 受領数 − 交付数 − 残数 and 交付数 against 名簿対照数, each
difference flagged with a word. Never imports Kivy.
"""

from __future__ import annotations

from dataclasses import replace

from ground.errors import MeiboError
from ui_kivy.presenters import closing as closing_entry
from ui_kivy.presenters import procedures as proc
from ui_kivy.presenters.flows.router import Intent, Router, Screen, illegal
from ui_kivy.presenters.flows.supervisor import SupervisorPresenter


class ClosingPresenter:
    def __init__(self, router: Router, supervisor: SupervisorPresenter) -> None:
        self.router = router
        self.supervisor = supervisor
        self.close_entry = closing_entry.ClosingEntry(())
        self.closing: proc.Panel | None = None

    def close_station(self) -> None:
        """閉鎖 (never a clock cut-off): first 受領数・交付数・残数 per contest, then ``submit_closing``."""
        r, svc = self.router, self.router.service
        if r.screen is not Screen.MENU:
            raise illegal(r.screen, Intent.CLOSE)
        if not svc.station_state().is_open:
            return r.tell("× 投票所はすでに閉鎖されています" if svc.station_state().state == "closed"
                          else "× 投票所が開設されていません")
        self.close_entry = closing_entry.closing_entry(svc.counts())
        r.go(Intent.CLOSE)
        r.notify()

    def _entry(self) -> closing_entry.ClosingEntry:
        if self.router.screen is not Screen.CLOSE_ENTRY:
            raise illegal(self.router.screen, Intent.CLOSE)
        return self.close_entry

    def closing_select(self, contest: str, field_index: int) -> None:
        self.close_entry = closing_entry.select(self._entry(), contest, field_index)
        self.router.notify()

    def closing_digit(self, d: str) -> None:
        self.close_entry = closing_entry.digit(self._entry(), d)
        self.router.notify()

    def closing_backspace(self) -> None:
        self.close_entry = closing_entry.backspace(self._entry())
        self.router.notify()

    def closing_next(self) -> None:
        self.close_entry = closing_entry.next_cell(self._entry())
        self.router.notify()

    def submit_closing(self) -> bool:
        """閉鎖する: record the figures typed and the close in one transaction, then show the figures."""
        r = self.router
        e = self._entry()
        if not e.complete:
            self.close_entry = replace(e, message=closing_entry.missing_text(e))
            r.tell(f"× {self.close_entry.message}（0 のときも 0 を入力）")
            return False
        try:
            figs = r.service.close_day(r.clerk, e.final())
        except MeiboError as ex:
            self.supervisor.refresh_menu()
            r.tell(f"× {ex.message}")
            return False
        self.supervisor.refresh_menu()
        self.closing = proc.closing_panel(figs, r.service.config)
        r.go(Intent.CLOSE)
        r.tell("投票所を閉鎖しました（受付終了）", "info")
        return True
