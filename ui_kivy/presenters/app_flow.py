"""The kiosk's flow (画面遷移): one state machine as a table, and the intents a view calls.

``KioskFlow`` owns which screen is shown and the frozen state of each screen; a view subscribes
with ``subscribe(cb)`` and re-reads ``flow`` on every change. Intents are plain methods
(``on_barcode``, ``on_scan_event``, ``on_kana``, ``pick``, ``confirm_checkin``, ``void``,
``open_station``, ``close_station``, ``enter_hourly_count`` …). A transition not in
``TRANSITIONS`` raises ``IllegalTransition`` and leaves everything unchanged.

Rules kept here:
- The answer to a check-in is shown only after ``service.checkin`` returned, i.e. after it was
  recorded (and HQ's verdict, or its absence, recorded too); while waiting the screen is 確認中.
- A scan is taken only where no voter is being confirmed (idle, search, result); elsewhere it is
  refused with a notice, never silently switching the voter on screen.
- A late ALREADY_VOTED verdict interrupts whatever screen is up with an alert that must be
  acknowledged; several wait in a queue.
- The hard stop offers no action that hands a ballot: ``hard_stop_actions`` (e.g. 仮投票, issue 10)
  are registered with a handler that may record anything except a check-in.

Never imports Kivy; time comes from the service's clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from typing import Any

from appliance.barcode import BarcodeCheckDigit, BarcodeOtherElection
from appliance.errors import MeiboError, NotFound
from ui_kivy.presenters.confirm import ConfirmState, confirm_state
from ui_kivy.presenters.format import mdhm
from ui_kivy.presenters.idle import IdleState, idle_state
from ui_kivy.presenters import procedures as proc
from appliance import procedures as P
from appliance.model import StationKind
from ui_kivy.presenters.result import Action, ResultState, result_state
from ui_kivy.presenters.search import SearchPresenter
from ui_kivy.presenters.status import StatusState, status_state
from ui_kivy.presenters.supervisor import (CountsState, KioskSettings, PinPad, VoidState, count_views,
                                           void_rows)
from ui_kivy.service import KioskService, RadioInfo, VoterCard


class Screen(str, Enum):
    IDLE = "idle"
    KANA = "kana"
    RESULTS = "results"
    BIRTH = "birth"
    CONFIRM = "confirm"
    CHECKING = "checking"
    RESULT = "result"
    PIN = "pin"
    MENU = "menu"
    VOID = "void"
    COUNTS = "counts"
    TENTATIVE = "tentative"  # 仮投票 form (issue 10)
    OPENING = "opening"  # 開設前の確認 panel
    CLOSING = "closing"  # 閉鎖 and the closing figures


class Intent(str, Enum):
    VOTER = "voter"  # a voter was chosen (scan or search)
    SEARCH = "search"
    SHOW_RESULTS = "show_results"
    BIRTH = "birth"
    APPLY = "apply"
    BACK = "back"
    CONFIRM = "confirm"
    ANSWERED = "answered"
    FAILED = "failed"
    NEXT = "next"
    SUPERVISOR = "supervisor"
    PIN_OK = "pin_ok"
    VOID = "void"
    COUNTS = "counts"
    TENTATIVE = "tentative"
    OPENING = "opening"
    CLOSE = "close"


S, I = Screen, Intent
TRANSITIONS: dict[Screen, dict[Intent, Screen]] = {
    S.IDLE: {I.VOTER: S.CONFIRM, I.SEARCH: S.KANA, I.SUPERVISOR: S.PIN},
    S.KANA: {I.VOTER: S.CONFIRM, I.SHOW_RESULTS: S.RESULTS, I.BACK: S.IDLE},
    S.RESULTS: {I.VOTER: S.CONFIRM, I.BIRTH: S.BIRTH, I.BACK: S.KANA},
    S.BIRTH: {I.VOTER: S.CONFIRM, I.APPLY: S.RESULTS, I.BACK: S.RESULTS},
    S.CONFIRM: {I.CONFIRM: S.CHECKING, I.BACK: S.IDLE, I.TENTATIVE: S.TENTATIVE},
    S.CHECKING: {I.ANSWERED: S.RESULT, I.FAILED: S.CONFIRM},
    S.RESULT: {I.VOTER: S.CONFIRM, I.NEXT: S.IDLE, I.SEARCH: S.KANA, I.TENTATIVE: S.TENTATIVE},
    S.TENTATIVE: {I.NEXT: S.IDLE, I.BACK: S.IDLE},
    S.PIN: {I.PIN_OK: S.MENU, I.BACK: S.IDLE},
    S.MENU: {I.VOID: S.VOID, I.COUNTS: S.COUNTS, I.BACK: S.IDLE, I.OPENING: S.OPENING, I.CLOSE: S.CLOSING},
    S.VOID: {I.BACK: S.MENU},
    S.COUNTS: {I.BACK: S.MENU},
    S.OPENING: {I.NEXT: S.IDLE, I.BACK: S.IDLE},
    S.CLOSING: {I.BACK: S.MENU},
}
SCAN_SCREENS = frozenset({S.IDLE, S.KANA, S.RESULTS, S.BIRTH, S.RESULT})
SUPERVISOR_SCREENS = frozenset({S.PIN, S.MENU, S.VOID, S.COUNTS, S.TENTATIVE, S.OPENING, S.CLOSING})


@dataclass(frozen=True)
class MarksState:
    """The confirm screen's marks: 宣誓書事由 (required at early stations before 受付), 代理/点字."""

    oath_required: bool
    oath: str | None = None
    proxy: bool = False
    braille: bool = False
    choices: tuple[tuple[str, str], ...] = ()

    @property
    def oath_text(self) -> str:
        if not self.oath_required:
            return ""
        label = dict(self.choices).get(self.oath or "", "")
        return f"宣誓書の事由: {label}" if label else "宣誓書の事由を選んでください（選ぶまで受付できません）"


class IllegalTransition(Exception):
    def __init__(self, screen: Screen, intent: Intent) -> None:
        super().__init__(f"{intent.value} is not allowed on {screen.value}")
        self.screen, self.intent = screen, intent


@dataclass(frozen=True)
class Notice:
    text: str
    level: str  # info | error


@dataclass(frozen=True)
class AlertState:
    title: str
    body: str
    seq: int


@dataclass(frozen=True)
class MenuState:
    station_text: str
    can_open: bool
    can_close: bool


HardStopHandler = Callable[["KioskFlow", ResultState], Awaitable[None] | None]


class KioskFlow:
    def __init__(self, service: KioskService, clerk: str, settings: KioskSettings = KioskSettings()) -> None:
        self.service = service
        self.clerk = clerk
        self.settings = settings
        self.screen = Screen.IDLE
        self.notice: Notice | None = None
        self.search = SearchPresenter(service)
        self.confirm: ConfirmState | None = None
        self.result: ResultState | None = None
        self.pin = PinPad(settings)
        self.menu = MenuState("", False, False)
        self.void_state = VoidState()
        self.counts_state = CountsState(0, ())
        self.alerts: list[AlertState] = []
        self.radios: list[RadioInfo] | None = None
        self.scanner_connected: bool | None = None
        self.idle: IdleState = idle_state(service.station.name, clerk, service.station_state().state)
        self.status: StatusState = status_state(service.link_status(), None, service.now())
        self._hard_stop: dict[str, tuple[Action, HardStopHandler]] = {}
        self._listeners: list[Callable[[], None]] = []
        self.marks = MarksState(False)
        self.absentee: proc.Panel | None = None
        self.tentative: proc.TentativeForm | None = None
        self.opening: proc.Panel | None = None
        self.opening_ok = False
        self.closing: proc.Panel | None = None
        proc.install_tentative_action(self, self._show_tentative)

    # -- plumbing ------------------------------------------------------------------------------
    def subscribe(self, cb: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    def _changed(self) -> None:
        for cb in list(self._listeners):
            cb()

    def can(self, intent: Intent) -> bool:
        return intent in TRANSITIONS[self.screen]

    def _go(self, intent: Intent) -> None:
        nxt = TRANSITIONS[self.screen].get(intent)
        if nxt is None:
            raise IllegalTransition(self.screen, intent)
        self.screen = nxt
        self.notice = None
        if nxt is Screen.IDLE:
            self.idle = idle_state(self.service.station.name, self.clerk, self.service.station_state().state)

    def _notice(self, text: str, level: str = "error") -> None:
        self.notice = Notice(text, level)
        self._changed()

    @property
    def alert(self) -> AlertState | None:
        return self.alerts[0] if self.alerts else None

    # -- scanning ------------------------------------------------------------------------------
    def _scan_allowed(self) -> bool:
        if self.screen in SCAN_SCREENS:
            return True
        if self.screen in SUPERVISOR_SCREENS:
            self._notice("管理者画面ではスキャンできません。戻ってから読み取ってください")
        else:
            self._notice("確認中の方がいます。「戻る」を押してから次の入場整理券を読み取ってください")
        return False

    def on_barcode(self, raw: str) -> None:
        """A barcode's text (keyboard-wedge scanners, or tests): parsed by the service."""
        if not self._scan_allowed():
            return
        try:
            card = self.service.lookup_barcode(raw)
        except BarcodeCheckDigit:
            return self._notice("× 読み取り誤りです。もう一度読み取ってください（チェックディジット不一致）")
        except BarcodeOtherElection:
            return self._notice("× この選挙の入場整理券ではありません。日付と選挙名を確かめてください")
        except MeiboError as e:
            return self._notice(f"× {e.message}")
        self._open_voter(card, "scan")

    def on_scan_event(self, ev: Any) -> None:
        """A ``hardware.scanner.base`` event (the driver already parsed and de-duplicated it)."""
        kind = getattr(ev, "kind", "")
        if kind == "voter":
            if not self._scan_allowed():
                return
            try:
                card = self.service.voter_card(ev.voter_id)
            except NotFound:
                return self._notice("× この入場整理券の選挙人は名簿にありません。選挙管理委員会に確認してください")
            self._open_voter(card, "scan")
        elif kind == "misread":
            self._notice("× 読み取り誤りです。もう一度読み取ってください")
        elif kind == "other_election":
            self._notice("× この選挙の入場整理券ではありません。日付と選挙名を確かめてください")
        elif kind == "double_scan":
            self._notice("同じ入場整理券を続けて読み取りました（二重読み取り・無視しました）", "info")
        elif kind in ("connected", "disconnected"):
            self.scanner_connected = kind == "connected"
            self.refresh_status()

    def _open_voter(self, card: VoterCard, via: str) -> None:
        if not self.service.station_state().is_open:
            return self._notice("投票所が開設されていません。管理者メニューから開設してください")
        if not self.can(Intent.VOTER):
            raise IllegalTransition(self.screen, Intent.VOTER)
        self.service.audit_lookup([card.voter_id], via, self.clerk)
        self.confirm = confirm_state(card, self.service.preview(card.voter_id), via)
        self.marks = MarksState(self.service.station.kind is StationKind.EARLY, choices=proc.oath_choices())
        self.absentee = proc.absentee_banner(self.service.absentee_warning(card.voter_id))
        self._go(Intent.VOTER)
        self._changed()

    # -- search --------------------------------------------------------------------------------
    def open_search(self) -> None:
        self._go(Intent.SEARCH)
        self.search.reset()
        self._changed()

    def on_kana(self, key: str) -> None:
        self.search.on_kana(key)
        self._changed()

    def show_results(self) -> None:
        if not self.search.state.query:
            return self._notice("カナを入力してください")
        self._go(Intent.SHOW_RESULTS)
        self._audit_rows()
        self._changed()

    def _audit_rows(self) -> None:
        """The result list shows personal data: every row shown is audit-logged."""
        ids = [r.voter_id for r in self.search.state.rows]
        if ids:
            self.service.audit_lookup(ids, "search", self.clerk)

    def open_birth(self) -> None:
        self._go(Intent.BIRTH)
        self._changed()

    def birth_era(self, era: str) -> None:
        self.search.birth_era(era)
        self._changed()

    def birth_digit(self, d: str) -> None:
        self.search.birth_digit(d)
        self._changed()

    def birth_next(self) -> None:
        self.search.birth_next()
        self._changed()

    def birth_clear(self) -> None:
        self.search.birth_clear()
        self._changed()

    def birth_apply(self) -> None:
        if self.search.birth_apply():
            self._go(Intent.APPLY)
            self._audit_rows()
        self._changed()

    def pick(self, voter_id: str) -> None:
        card = self.search.card(voter_id)
        if card is None:
            return self._notice("その方は一覧にありません")
        self._open_voter(card, "search")

    # -- check-in ------------------------------------------------------------------------------
    @property
    def can_confirm(self) -> bool:
        """受付 is enabled: at an early station only once a 宣誓書事由 is chosen (when a ballot would be handed)."""
        c = self.confirm
        if c is None:
            return False
        return not (c.can_hand and self.marks.oath_required and self.marks.oath is None)

    def choose_oath(self, code: str) -> None:
        if self.screen is not Screen.CONFIRM or not self.marks.oath_required:
            raise IllegalTransition(self.screen, Intent.CONFIRM)
        if code not in dict(self.marks.choices):
            raise ValueError(f"no oath reason {code}")
        self.marks = replace(self.marks, oath=code)
        self._changed()

    def toggle_proxy(self) -> None:
        if self.screen is not Screen.CONFIRM:
            raise IllegalTransition(self.screen, Intent.CONFIRM)
        self.marks = replace(self.marks, proxy=not self.marks.proxy)
        self._changed()

    def toggle_braille(self) -> None:
        if self.screen is not Screen.CONFIRM:
            raise IllegalTransition(self.screen, Intent.CONFIRM)
        self.marks = replace(self.marks, braille=not self.marks.braille)
        self._changed()

    async def confirm_checkin(self) -> ResultState | None:
        if self.confirm is None:
            raise IllegalTransition(self.screen, Intent.CONFIRM)
        if not self.can(Intent.CONFIRM):
            raise IllegalTransition(self.screen, Intent.CONFIRM)
        if not self.can_confirm:
            self._notice("宣誓書の事由を選んでから「受付」を押してください")
            return None
        m = self.marks
        try:
            marks = P.checkin_marks(self.service.station, oath_reason=m.oath if self.confirm.can_hand else None,
                                    proxy=m.proxy, braille=m.braille, require_oath=False)
        except MeiboError as e:
            self._notice(f"× {e.message}")
            return None
        self._go(Intent.CONFIRM)
        self._changed()
        try:
            answer = await self.service.checkin(self.confirm.voter_id, self.clerk, marks)
        except MeiboError as e:
            self._go(Intent.FAILED)
            self._notice(f"× 受付できませんでした: {e.message}")
            return None
        self.result = result_state(answer, tuple(a for a, _ in self._hard_stop.values()))
        self._go(Intent.ANSWERED)
        self.refresh_status()
        return self.result

    def add_hard_stop_action(self, action: Action, handler: HardStopHandler) -> None:
        """Offer ``action`` on every 投票済 result (issue 10: 仮投票). It must never hand a ballot."""
        if action.id == "next":
            raise ValueError("next is reserved")
        self._hard_stop[action.id] = (action, handler)

    async def on_result_action(self, action_id: str) -> None:
        if self.screen is not Screen.RESULT or self.result is None:
            raise IllegalTransition(self.screen, Intent.NEXT)
        if action_id not in {a.id for a in self.result.actions}:
            raise ValueError(f"no action {action_id} on this result")
        if action_id == "next":
            return self.next_voter()
        got = self._hard_stop[action_id][1](self, self.result)
        if got is not None:
            await got
        self._changed()

    def next_voter(self) -> None:
        self._go(Intent.NEXT)
        self.confirm = self.result = self.tentative = None
        self.absentee = None
        self._changed()

    # -- 仮投票 (公職選挙法 50条): records a ``tentative`` entry, never a ballot ------------------------
    def _show_tentative(self, form: proc.TentativeForm) -> None:
        self._go(Intent.TENTATIVE)
        self.tentative = form
        self._changed()

    def doubt_identity(self) -> None:
        """The supervisor (or a 立会人) doubts the voter's identity on the confirm screen: 仮投票."""
        c = self.confirm
        if self.screen is not Screen.CONFIRM or c is None:
            raise IllegalTransition(self.screen, Intent.TENTATIVE)
        cfg = self.service.config
        could = [p.name for p in c.lines if p.ok]
        form = proc.tentative_form(cfg, c.voter_id, c.name, could)
        form = replace(form, reason=P.TentativeReason.SUPERVISOR_REFUSAL.value)
        self._show_tentative(form)

    def _form(self) -> proc.TentativeForm:
        if self.screen is not Screen.TENTATIVE or self.tentative is None:
            raise IllegalTransition(self.screen, Intent.TENTATIVE)
        return self.tentative

    def tentative_toggle(self, contest: str) -> None:
        f = self._form()
        if f.done is None:
            self.tentative = proc.toggle(f, contest)
        self._changed()

    def tentative_reason(self, reason: str) -> None:
        f = self._form()
        if f.done is None and reason in dict(f.reasons):
            self.tentative = replace(f, reason=reason, message="")
        self._changed()

    def tentative_decided_by(self, who: str) -> None:
        f = self._form()
        if f.done is None:
            self.tentative = replace(f, decided_by=who, message="")
        self._changed()

    def submit_tentative(self) -> bool:
        f = self._form()
        self.tentative = proc.submit(f, self.service, self.clerk, self.service.config)
        self._changed()
        return self.tentative.done is not None

    def leave_tentative(self) -> None:
        """次の方へ (after recording) or 取りやめ (nothing recorded): back to 待受."""
        f = self._form()
        self._go(Intent.NEXT if f.done is not None else Intent.BACK)
        self.confirm = self.result = self.tentative = None
        self.absentee = None
        self._changed()

    def back(self) -> None:
        self._go(Intent.BACK)
        if self.screen is Screen.IDLE:
            self.confirm = None
            self.absentee = None
            self.pin.reset()
        self._changed()

    # -- status and alerts ---------------------------------------------------------------------
    def set_radios(self, radios: list[RadioInfo] | None) -> None:
        self.radios = radios
        self.refresh_status()

    def refresh_status(self) -> None:
        self.status = status_state(self.service.link_status(), self.radios, self.service.now(),
                                   self.scanner_connected)
        self._changed()

    def tick(self) -> None:
        """Called about once a second by the app: status bar and late verdicts."""
        for a in self.service.take_late_alerts():
            self.alerts.append(AlertState(
                "！ 二重交付の疑い（本部から後で判明）",
                f"受付 {a.seq}（{a.voter_name}）の {a.contest_name} は、{a.where} {mdhm(a.at)} に"
                "すでに交付されていました。オフライン受付の手順に従い、ただちに管理者に連絡してください",
                a.seq))
        self.refresh_status()

    def acknowledge_alert(self) -> None:
        if self.alerts:
            self.alerts.pop(0)
        self._changed()

    # -- supervisor ----------------------------------------------------------------------------
    def open_supervisor(self) -> None:
        self._go(Intent.SUPERVISOR)
        self.pin.reset()
        self._changed()

    def pin_digit(self, d: str) -> None:
        self.pin.digit(d)
        self._changed()

    def pin_backspace(self) -> None:
        self.pin.backspace()
        self._changed()

    def pin_submit(self) -> bool:
        ok = self.pin.submit(self.service.check_pin, self.service.now())
        if ok:
            self._go(Intent.PIN_OK)
            self._refresh_menu()
        self._changed()
        return ok

    def _refresh_menu(self) -> None:
        st = self.service.station_state()
        text = {"open": f"開設中（{st.at:%H:%M} 開設）" if st.at else "開設中",
                "closed": f"閉鎖済み（{st.at:%H:%M} 閉鎖）" if st.at else "閉鎖済み",
                "never": "未開設"}[st.state]
        self.menu = MenuState(f"{self.service.station.name}: {text}", not st.is_open, st.is_open)

    def _station(self, action: str) -> None:
        if self.screen is not Screen.MENU:
            raise IllegalTransition(self.screen, Intent.SUPERVISOR)
        try:
            self.service.set_station(action, self.clerk)
        except MeiboError as e:
            self._refresh_menu()
            return self._notice(f"× {e.message}")
        self._refresh_menu()
        self._notice("投票所を開設しました" if action == "open" else "投票所を閉鎖しました（受付終了）", "info")

    def open_station(self) -> None:
        """開設: from the menu directly, or from the opening-check screen (refused on a mismatch)."""
        if self.screen is Screen.OPENING:
            if not self.opening_ok:
                return self._notice("× 本部と一致しないため開設できません。選挙管理委員会に連絡してください")
            try:
                self.service.set_station("open", self.clerk)
            except MeiboError as e:
                return self._notice(f"× {e.message}")
            self._go(Intent.NEXT)
            self._notice("投票所を開設しました", "info")
            return
        self._station("open")

    def show_opening(self) -> None:
        """開設前の確認: election, contests and roll version against HQ's (after unlock, or from the menu)."""
        chk = self.service.opening_check()
        if self.screen is Screen.MENU:
            self._go(Intent.OPENING)
        elif self.screen is not Screen.OPENING:
            self.screen = Screen.OPENING  # the first screen after the station unlock
        self.opening = proc.opening_panel(chk)
        self.opening_ok = chk.status != "mismatch"
        self._changed()

    def close_station(self) -> None:
        """閉鎖 (never a clock cut-off): stop check-ins and show the closing figures."""
        if self.screen is not Screen.MENU:
            raise IllegalTransition(self.screen, Intent.CLOSE)
        try:
            figs = self.service.close_day(self.clerk)
        except MeiboError as e:
            self._refresh_menu()
            return self._notice(f"× {e.message}")
        self._refresh_menu()
        self.closing = proc.closing_panel(figs, self.service.config)
        self._go(Intent.CLOSE)
        self._notice("投票所を閉鎖しました（受付終了）", "info")

    def open_void(self) -> None:
        self._go(Intent.VOID)
        self.void_state = VoidState(void_rows(self.service.recent_checkins(), None))
        self._changed()

    def void_select(self, seq: int) -> None:
        rows = self.service.recent_checkins()
        if not any(r.seq == seq and not r.voided for r in rows):
            return self._notice("その受付は取り消せません")
        self.void_state = VoidState(void_rows(rows, seq), reason=self.void_state.reason, selected=seq)
        self._changed()

    def void_reason(self, reason: str) -> None:
        self.void_state = VoidState(self.void_state.rows, reason=reason, selected=self.void_state.selected)
        self._changed()

    def void(self, seq: int | None = None, reason: str | None = None) -> bool:
        if self.screen is not Screen.VOID:
            raise IllegalTransition(self.screen, Intent.VOID)
        seq = self.void_state.selected if seq is None else seq
        reason = self.void_state.reason if reason is None else reason
        if seq is None or not reason:
            self._notice("取り消す受付と理由を選んでください")
            return False
        try:
            self.service.void(seq, reason, self.clerk)
        except MeiboError as e:
            self._notice(f"× {e.message}")
            return False
        self.void_state = VoidState(void_rows(self.service.recent_checkins(), None))
        self._notice(f"受付 {seq} を取り消しました（理由: {reason}）", "info")
        return True

    def open_counts(self) -> None:
        self._go(Intent.COUNTS)
        self._refresh_counts(None, "")
        self._changed()

    def _refresh_counts(self, selected: str | None, entry: str, message: str = "") -> None:
        rows = self.service.counts()
        self.counts_state = CountsState(self.service.now().hour, count_views(rows, selected, entry), selected, entry,
                                        message)

    def counts_select(self, contest: str) -> None:
        self._refresh_counts(contest, "")
        self._changed()

    def counts_digit(self, d: str) -> None:
        cs = self.counts_state
        if cs.selected is None or not (len(d) == 1 and d.isdigit()) or len(cs.entry) >= 6:
            return
        self._refresh_counts(cs.selected, cs.entry + d)
        self._changed()

    def counts_backspace(self) -> None:
        cs = self.counts_state
        self._refresh_counts(cs.selected, cs.entry[:-1])
        self._changed()

    def enter_hourly_count(self, contest: str | None = None, issued: int | None = None) -> bool:
        """Record 交付数 for ``contest`` this hour (default: the selected row and the typed digits)."""
        if self.screen is not Screen.COUNTS:
            raise IllegalTransition(self.screen, Intent.COUNTS)
        cs = self.counts_state
        contest = contest or cs.selected
        if issued is None:
            issued = int(cs.entry) if cs.entry else None
        if contest is None or issued is None:
            self._notice("選挙を選び、交付数を入力してください")
            return False
        try:
            self.service.record_count(contest, self.service.now().hour, issued, self.clerk)
        except MeiboError as e:
            self._notice(f"× {e.message}")
            return False
        self._refresh_counts(None, "")
        row = next(r for r in self.counts_state.rows if r.contest == contest)
        self._notice(f"{row.name}: 交付数 {issued} を記録しました。{row.diff_text}",
                     "error" if row.mismatch else "info")
        return True

    def now(self) -> datetime:
        return self.service.now()
