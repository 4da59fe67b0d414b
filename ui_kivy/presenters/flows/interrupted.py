"""The interrupted flow: check-ins recorded before the kiosk stopped, whose answer nobody saw.

At start, before anything else, each one is asked about in turn (oldest first): 交付した keeps it
and marks it shown; 交付していない needs the supervisor's PIN and voids it (中断のため交付せず).
Until all are settled no scan is taken and the opening check waits; once they are, the opening
check is shown if it was asked for meanwhile, else 待受. Never imports Kivy.
"""

from __future__ import annotations

from dataclasses import dataclass

from ground.errors import MeiboError
from ground.names import display_name
from ui_kivy.presenters.flows.router import Intent, Router, Screen, illegal
from ui_kivy.presenters.flows.supervisor import MENU, SupervisorPresenter
from ui_kivy.service import CheckinRow

INTERRUPTED_VOID_REASON = "中断のため交付せず"
PIN_PURPOSE = "interrupted"


@dataclass(frozen=True)
class InterruptedState:
    """A check-in recorded before the kiosk stopped, whose answer nobody saw."""

    row: CheckinRow
    left: int  # how many such check-ins wait, this one included

    @property
    def name(self) -> str:
        """The voter's name as shown (外字 as 〓 with the カナ); the view draws it in the name font."""
        return display_name(self.row.name, self.row.kana)

    @property
    def prompt(self) -> str:
        r = self.row
        return (f"受付 {r.seq}（{self.name} {r.at:%H:%M}）は結果を表示する前に中断されました。"
                "投票用紙を交付しましたか？")

    @property
    def detail(self) -> str:
        more = f"（確認が必要な受付はあと {self.left} 件）" if self.left > 1 else ""
        return f"投票用紙: {'・'.join(self.row.contest_names)}{more}"


class InterruptedPresenter:
    def __init__(self, router: Router, supervisor: SupervisorPresenter) -> None:
        self.router = router
        self.supervisor = supervisor
        self.interrupted: InterruptedState | None = None
        self._opening_after = False  # show the opening check once the interrupted check-ins are settled
        supervisor.after_pin(PIN_PURPOSE, self._void_interrupted)
        supervisor.hold_opening(self._hold_opening)

    @property
    def asking_pin(self) -> bool:
        """The PIN on screen is the one for 交付していない (戻る returns to the prompt)."""
        return self.router.screen is Screen.PIN and self.supervisor.pin_for == PIN_PURPOSE

    def check_interrupted(self) -> None:
        """At start (the kiosk's constructor calls it): any check-in recorded but never shown → the prompt."""
        rows = self.router.service.interrupted_checkins()
        if rows:
            self.interrupted = InterruptedState(rows[0], len(rows))
            self.router.screen = Screen.INTERRUPTED  # before anything else, at start
        else:
            self.interrupted = None

    def _hold_opening(self) -> bool:
        if self.interrupted is None:
            return False
        self._opening_after = True  # the interrupted check-ins first
        return True

    def _after_interrupted(self) -> None:
        self.check_interrupted()
        if self.interrupted is not None:
            self.router.screen = Screen.INTERRUPTED
            return self.router.notify()
        if self._opening_after:
            self._opening_after = False
            self.supervisor.show_opening()
        else:
            self.router.go(Intent.NEXT)
        self.router.notify()

    def interrupted_handed(self) -> None:
        """交付した: keep the check-in as it is, and mark it shown."""
        it = self.interrupted
        if self.router.screen is not Screen.INTERRUPTED or it is None:
            raise illegal(self.router.screen, Intent.NEXT)
        self.router.service.mark_shown(it.row.seq)
        self._after_interrupted()
        self.router.tell(f"受付 {it.row.seq} は交付済みとして残しました", "info")

    def interrupted_not_handed(self) -> None:
        """交付していない: the supervisor's PIN, then the check-in is voided (中断のため交付せず)."""
        if self.router.screen is not Screen.INTERRUPTED or self.interrupted is None:
            raise illegal(self.router.screen, Intent.SUPERVISOR)
        self.supervisor.ask_pin(PIN_PURPOSE)

    def back_from_pin(self) -> None:
        """戻る on the PIN asked for 交付していない: the prompt again, nothing voided."""
        self.router.go(Intent.RESUME)
        self.supervisor.pin.reset()
        self.router.notify()

    def _void_interrupted(self) -> None:
        it = self.interrupted
        assert it is not None
        r = self.router
        r.go(Intent.RESUME)
        self.supervisor.pin_for = MENU
        try:
            r.service.void(it.row.seq, INTERRUPTED_VOID_REASON, r.clerk)
        except MeiboError as e:
            return r.tell(f"× {e.message}")
        r.service.mark_shown(it.row.seq)
        self._after_interrupted()
        r.tell(f"受付 {it.row.seq} を取り消しました（理由: {INTERRUPTED_VOID_REASON}）", "info")
