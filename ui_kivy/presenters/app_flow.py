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
- After a result has been drawn the view calls ``result_shown()`` (leaving the result screen does
  too): the service marks it locally. A check-in recorded but never shown (the kiosk died in
  between) is asked about at the next start, before anything else (画面 ``interrupted``).
- 仮投票 of a person not on the roll and the 閉鎖 entry are behind the supervisor PIN.

Never imports Kivy; time comes from the service's clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any

from ground.barcode import BarcodeCheckDigit, BarcodeOtherElection
from ground.errors import IllegalTransition, MeiboError, NotFound
from appliance.wareki import WarekiInvalid
from ui_kivy.presenters.confirm import ConfirmState, confirm_state
from ui_kivy.presenters.format import mdhm
from ui_kivy.presenters.idle import IdleState, idle_state
from ui_kivy.presenters import procedures as proc
from appliance import procedures as P
from ground.model import StationKind
from ui_kivy.presenters.result import Action, ResultState, result_state
from ui_kivy.presenters import closing as closing_entry
from ui_kivy.presenters import zaigai as zg
from ui_kivy.presenters.report import report_panel
from ui_kivy.presenters.search import ERA_KEYS, BirthInput, SearchPresenter, birth_date, birth_digit, edit_kana
from ui_kivy.presenters.status import StatusState, status_state
from ui_kivy.presenters.supervisor import (CountsState, KioskSettings, PinPad, VoidState, count_views,
                                           void_rows)
from ui_kivy.service import CheckinRow, KioskService, RadioInfo, VoterCard


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
    CLOSE_ENTRY = "close_entry"  # 受領数・交付数・残数 before closing
    REPORT = "report"  # 報告: the day's figures so far
    ZAIGAI_ID = "zaigai_id"  # 在外選挙人番号 on a digit pad
    ZAIGAI_CONFIRM = "zaigai_confirm"  # the 在外選挙人 and the 在外選挙人証番号
    DECLARE_NAME = "declare_name"  # 仮投票 of a person not on the roll: name on the kana pad
    DECLARE_BIRTH = "declare_birth"  # … and the declared birth date (optional)
    INTERRUPTED = "interrupted"  # a check-in recorded but never shown (restart)


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
    REPORT = "report"
    ZAIGAI = "zaigai"
    ZAIGAI_FAILED = "zaigai_failed"
    DECLARE = "declare"
    RESUME = "resume"


S, I = Screen, Intent
TRANSITIONS: dict[Screen, dict[Intent, Screen]] = {
    S.IDLE: {I.VOTER: S.CONFIRM, I.SEARCH: S.KANA, I.SUPERVISOR: S.PIN, I.ZAIGAI: S.ZAIGAI_ID},
    S.KANA: {I.VOTER: S.CONFIRM, I.SHOW_RESULTS: S.RESULTS, I.BACK: S.IDLE, I.SUPERVISOR: S.PIN},
    S.RESULTS: {I.VOTER: S.CONFIRM, I.BIRTH: S.BIRTH, I.BACK: S.KANA, I.SUPERVISOR: S.PIN},
    S.BIRTH: {I.VOTER: S.CONFIRM, I.APPLY: S.RESULTS, I.BACK: S.RESULTS},
    S.CONFIRM: {I.CONFIRM: S.CHECKING, I.BACK: S.IDLE, I.TENTATIVE: S.TENTATIVE},
    S.ZAIGAI_ID: {I.VOTER: S.ZAIGAI_CONFIRM, I.BACK: S.IDLE},
    S.ZAIGAI_CONFIRM: {I.CONFIRM: S.CHECKING, I.BACK: S.ZAIGAI_ID},
    S.CHECKING: {I.ANSWERED: S.RESULT, I.FAILED: S.CONFIRM, I.ZAIGAI_FAILED: S.ZAIGAI_CONFIRM},
    S.RESULT: {I.VOTER: S.CONFIRM, I.NEXT: S.IDLE, I.SEARCH: S.KANA, I.TENTATIVE: S.TENTATIVE},
    S.TENTATIVE: {I.NEXT: S.IDLE, I.BACK: S.IDLE},
    S.PIN: {I.PIN_OK: S.MENU, I.BACK: S.IDLE, I.DECLARE: S.DECLARE_NAME, I.RESUME: S.INTERRUPTED},
    S.DECLARE_NAME: {I.NEXT: S.DECLARE_BIRTH, I.BACK: S.IDLE},
    S.DECLARE_BIRTH: {I.NEXT: S.TENTATIVE, I.BACK: S.DECLARE_NAME},
    S.MENU: {I.VOID: S.VOID, I.COUNTS: S.COUNTS, I.BACK: S.IDLE, I.OPENING: S.OPENING, I.CLOSE: S.CLOSE_ENTRY,
             I.REPORT: S.REPORT},
    S.VOID: {I.BACK: S.MENU},
    S.COUNTS: {I.BACK: S.MENU},
    S.REPORT: {I.BACK: S.MENU},
    S.OPENING: {I.NEXT: S.IDLE, I.BACK: S.IDLE},
    S.CLOSE_ENTRY: {I.CLOSE: S.CLOSING, I.BACK: S.MENU},
    S.CLOSING: {I.BACK: S.MENU},
    S.INTERRUPTED: {I.NEXT: S.IDLE, I.SUPERVISOR: S.PIN, I.OPENING: S.OPENING},
}
SCAN_SCREENS = frozenset({S.IDLE, S.KANA, S.RESULTS, S.BIRTH, S.RESULT})
SUPERVISOR_SCREENS = frozenset({S.PIN, S.MENU, S.VOID, S.COUNTS, S.TENTATIVE, S.OPENING, S.CLOSING, S.CLOSE_ENTRY,
                                S.REPORT, S.DECLARE_NAME, S.DECLARE_BIRTH})
INTERRUPTED_VOID_REASON = "中断のため交付せず"


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


def illegal(screen: Screen, intent: Intent) -> IllegalTransition:
    """The kiosk's refusal of a button on the wrong screen (the one ``IllegalTransition``)."""
    return IllegalTransition(f"この画面ではできません（{screen.value} で {intent.value}）",
                             screen=screen.value, intent=intent.value)


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
    can_enroll: bool = False  # 端末の登録（スマートカード）: shown when the app wired ``on_enroll``


@dataclass(frozen=True)
class InterruptedState:
    """A check-in recorded before the kiosk stopped, whose answer nobody saw."""

    row: CheckinRow
    left: int  # how many such check-ins wait, this one included

    @property
    def prompt(self) -> str:
        r = self.row
        return (f"受付 {r.seq}（{r.name} {r.at:%H:%M}）は結果を表示する前に中断されました。"
                "投票用紙を交付しましたか？")

    @property
    def detail(self) -> str:
        more = f"（確認が必要な受付はあと {self.left} 件）" if self.left > 1 else ""
        return f"投票用紙: {'・'.join(self.row.contest_names)}{more}"


@dataclass(frozen=True)
class DeclareState:
    """仮投票 of a person not found on the roll: the name (kana) and birth date they declare."""

    name: str = ""
    birth: BirthInput = field(default_factory=BirthInput)
    message: str = ""

    @property
    def name_text(self) -> str:
        return f"申立ての氏名（カナ）: {self.name or '＿'}"


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
        self.zaigai_here = service.zaigai_allowed()  # the 在外選挙人 button (early and designated stations)
        self.status: StatusState = status_state(service.link_status(), None, service.now())
        self._hard_stop: dict[str, tuple[Action, HardStopHandler]] = {}
        self._listeners: list[Callable[[], None]] = []
        self.marks = MarksState(False)
        self.absentee: proc.Panel | None = None
        self.tentative: proc.TentativeForm | None = None
        self.opening: proc.Panel | None = None
        self.opening_ok = False
        self.closing: proc.Panel | None = None
        self.close_entry = closing_entry.ClosingEntry(())
        self.report: proc.Panel | None = None
        self.zaigai = zg.ZaigaiState()
        self.declare = DeclareState()
        self.on_enroll: Callable[[], None] | None = None  # 端末の登録 (wired by the app; issue 6)
        self.unshown_seq: int | None = None  # a result on screen not yet marked as shown
        self._pin_for = "menu"  # menu | declare | interrupted: where a right PIN leads
        self._opening_after = False  # show the opening check once the interrupted check-ins are settled
        self.interrupted: InterruptedState | None = None
        proc.install_tentative_action(self, self._show_tentative)
        self.check_interrupted()

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
            raise illegal(self.screen, intent)
        if self.screen is Screen.RESULT:
            self.result_shown()  # whoever pressed on, saw it
        self.screen = nxt
        self.notice = None
        if nxt is Screen.IDLE:
            self._refresh_idle()

    def _refresh_idle(self) -> None:
        self.idle = idle_state(self.service.station.name, self.clerk, self.service.station_state().state)
        self.zaigai_here = self.service.zaigai_allowed()  # a 在外 package may have arrived meanwhile

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
        if self.screen is Screen.INTERRUPTED:
            self._notice("中断された受付の確認が先です。「交付した」か「交付していない」を選んでください")
        elif self.screen in SUPERVISOR_SCREENS:
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
            raise illegal(self.screen, Intent.VOTER)
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
        if self.screen not in (Screen.CONFIRM, Screen.ZAIGAI_CONFIRM) or not self.marks.oath_required:
            raise illegal(self.screen, Intent.CONFIRM)
        if code not in dict(self.marks.choices):
            raise ValueError(f"no oath reason {code}")
        self.marks = replace(self.marks, oath=code)
        self._changed()

    def toggle_proxy(self) -> None:
        """代理投票: on the confirm screen and the 在外選挙人 one (both counted in the 投票録)."""
        if self.screen not in (Screen.CONFIRM, Screen.ZAIGAI_CONFIRM):
            raise illegal(self.screen, Intent.CONFIRM)
        self.marks = replace(self.marks, proxy=not self.marks.proxy)
        self._changed()

    def toggle_braille(self) -> None:
        """点字投票: on the confirm screen and the 在外選挙人 one."""
        if self.screen not in (Screen.CONFIRM, Screen.ZAIGAI_CONFIRM):
            raise illegal(self.screen, Intent.CONFIRM)
        self.marks = replace(self.marks, braille=not self.marks.braille)
        self._changed()

    async def confirm_checkin(self) -> ResultState | None:
        if self.confirm is None:
            raise illegal(self.screen, Intent.CONFIRM)
        if not self.can(Intent.CONFIRM):
            raise illegal(self.screen, Intent.CONFIRM)
        if not self.can_confirm:
            self._notice("宣誓書の事由を選んでから「受付」を押してください")
            return None
        m = self.marks
        try:
            marks = self.service.checkin_marks(oath_reason=m.oath if self.confirm.can_hand else None,
                                               proxy=m.proxy, braille=m.braille)
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
        return self._answered(answer)

    def _answered(self, answer: Any) -> ResultState:
        self.result = result_state(answer, tuple(a for a, _ in self._hard_stop.values()))
        self.unshown_seq = answer.seq
        self._go(Intent.ANSWERED)
        self.refresh_status()
        return self.result

    @property
    def result_voter_id(self) -> str | None:
        """The voter of the result on screen: a roll voter id, or Z:<number> for a 在外選挙人."""
        if self.confirm is not None:
            return self.confirm.voter_id
        if self.zaigai.card is not None:
            return self.zaigai.card.voter_key
        return None

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
        if self.screen is not Screen.RESULT or self.result is None:
            raise illegal(self.screen, Intent.NEXT)
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
        self.zaigai = zg.ZaigaiState()
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
            raise illegal(self.screen, Intent.TENTATIVE)
        cfg = self.service.config
        could = [p.name for p in c.lines if p.ok]
        form = proc.tentative_form(cfg, c.voter_id, c.name, could)
        form = replace(form, reason=P.TentativeReason.SUPERVISOR_REFUSAL.value)
        self._show_tentative(form)

    def _form(self) -> proc.TentativeForm:
        if self.screen is not Screen.TENTATIVE or self.tentative is None:
            raise illegal(self.screen, Intent.TENTATIVE)
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
        self.zaigai = zg.ZaigaiState()
        self.declare = DeclareState()
        self._changed()

    def back(self) -> None:
        if self.screen is Screen.PIN and self._pin_for == "interrupted":
            self._go(Intent.RESUME)
            self.pin.reset()
            return self._changed()
        self._go(Intent.BACK)
        if self.screen is Screen.IDLE:
            self.confirm = None
            self.absentee = None
            self.zaigai = zg.ZaigaiState()
            self.declare = DeclareState()
            self.pin.reset()
        if self.screen is Screen.ZAIGAI_ID:
            self.zaigai = replace(self.zaigai, card=None, card_no="", message="")
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
        if self.screen is not Screen.IDLE:
            raise illegal(self.screen, Intent.SUPERVISOR)
        self._go(Intent.SUPERVISOR)
        self._pin_for = "menu"
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
        if ok and self._pin_for == "declare":
            self._go(Intent.DECLARE)
        elif ok and self._pin_for == "interrupted":
            self._void_interrupted()
            return ok
        elif ok:
            self._go(Intent.PIN_OK)
            self._refresh_menu()
        self._changed()
        return ok

    def _refresh_menu(self) -> None:
        st = self.service.station_state()
        text = {"open": f"開設中（{st.at:%H:%M} 開設）" if st.at else "開設中",
                "closed": f"閉鎖済み（{st.at:%H:%M} 閉鎖）" if st.at else "閉鎖済み",
                "never": "未開設"}[st.state]
        self.menu = MenuState(f"{self.service.station.name}: {text}", not st.is_open, st.is_open,
                              self.on_enroll is not None)

    def _station(self, action: str) -> None:
        if self.screen is not Screen.MENU:
            raise illegal(self.screen, Intent.SUPERVISOR)
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
        if self.interrupted is not None:
            self._opening_after = True  # the interrupted check-ins first
            return
        chk = self.service.opening_check()
        if self.screen in (Screen.MENU, Screen.INTERRUPTED):
            self._go(Intent.OPENING)
        elif self.screen is not Screen.OPENING:
            self.screen = Screen.OPENING  # the first screen after the station unlock
        self.opening = proc.opening_panel(chk)
        self.opening_ok = chk.status != "mismatch"
        self._changed()

    def close_station(self) -> None:
        """閉鎖 (never a clock cut-off): first 受領数・交付数・残数 per contest, then ``submit_closing``."""
        if self.screen is not Screen.MENU:
            raise illegal(self.screen, Intent.CLOSE)
        if not self.service.station_state().is_open:
            return self._notice("× 投票所はすでに閉鎖されています" if self.service.station_state().state == "closed"
                                else "× 投票所が開設されていません")
        self.close_entry = closing_entry.closing_entry(self.service.counts())
        self._go(Intent.CLOSE)
        self._changed()

    def _entry(self) -> closing_entry.ClosingEntry:
        if self.screen is not Screen.CLOSE_ENTRY:
            raise illegal(self.screen, Intent.CLOSE)
        return self.close_entry

    def closing_select(self, contest: str, field_index: int) -> None:
        self.close_entry = closing_entry.select(self._entry(), contest, field_index)
        self._changed()

    def closing_digit(self, d: str) -> None:
        self.close_entry = closing_entry.digit(self._entry(), d)
        self._changed()

    def closing_backspace(self) -> None:
        self.close_entry = closing_entry.backspace(self._entry())
        self._changed()

    def closing_next(self) -> None:
        self.close_entry = closing_entry.next_cell(self._entry())
        self._changed()

    def submit_closing(self) -> bool:
        """閉鎖する: record the figures typed and the close in one transaction, then show the figures."""
        e = self._entry()
        if not e.complete:
            self.close_entry = replace(e, message=closing_entry.missing_text(e))
            self._notice(f"× {self.close_entry.message}（0 のときも 0 を入力）")
            return False
        try:
            figs = self.service.close_day(self.clerk, e.final())
        except MeiboError as ex:
            self._refresh_menu()
            self._notice(f"× {ex.message}")
            return False
        self._refresh_menu()
        self.closing = proc.closing_panel(figs, self.service.config)
        self._go(Intent.CLOSE)
        self._notice("投票所を閉鎖しました（受付終了）", "info")
        return True

    # -- 報告 and 端末の登録 ------------------------------------------------------------------------
    def open_report(self) -> None:
        self._go(Intent.REPORT)
        self.report = report_panel(self.service.station_report(), self.service.config, self.service.now())
        self.refresh_status()  # the status bar's 未送信 and the report's 本部未確認 read the same moment

    def enroll(self) -> None:
        """端末の登録（スマートカード）: hands over to the app's enrollment screen."""
        if self.screen is not Screen.MENU or self.on_enroll is None:
            raise illegal(self.screen, Intent.SUPERVISOR)
        self.on_enroll()

    # -- 在外選挙人 ------------------------------------------------------------------------------
    def open_zaigai(self) -> None:
        if self.screen is not Screen.IDLE:
            raise illegal(self.screen, Intent.ZAIGAI)
        if not self.service.zaigai_allowed():
            return self._notice("× この投票所では在外選挙人の投票を受け付けません（期日前投票所または指定の投票所へご案内ください）")
        if not self.service.station_state().is_open:
            return self._notice("投票所が開設されていません。管理者メニューから開設してください")
        self.zaigai = zg.ZaigaiState()
        self.marks = MarksState(self.service.station.kind is StationKind.EARLY, choices=proc.oath_choices())
        self._go(Intent.ZAIGAI)
        self._changed()

    def zaigai_digit(self, d: str) -> None:
        if self.screen is Screen.ZAIGAI_ID:
            self.zaigai = zg.id_digit(self.zaigai, d)
        elif self.screen is Screen.ZAIGAI_CONFIRM:
            self.zaigai = zg.card_digit(self.zaigai, d)
        else:
            raise illegal(self.screen, Intent.ZAIGAI)
        self._changed()

    def zaigai_letters(self) -> None:
        """英字 ⇄ 数字: the card number pad's letter keys."""
        if self.screen is not Screen.ZAIGAI_CONFIRM:
            raise illegal(self.screen, Intent.ZAIGAI)
        self.zaigai = zg.toggle_letters(self.zaigai)
        self._changed()

    def zaigai_backspace(self) -> None:
        if self.screen is Screen.ZAIGAI_ID:
            self.zaigai = zg.id_backspace(self.zaigai)
        elif self.screen is Screen.ZAIGAI_CONFIRM:
            self.zaigai = zg.card_backspace(self.zaigai)
        else:
            raise illegal(self.screen, Intent.ZAIGAI)
        self._changed()

    def zaigai_lookup(self) -> bool:
        """検索: the 在外選挙人番号 typed → the confirm screen (NotFound: a message, nothing else)."""
        if self.screen is not Screen.ZAIGAI_ID:
            raise illegal(self.screen, Intent.VOTER)
        z = self.zaigai
        if not z.can_lookup:
            self.zaigai = replace(z, message="在外選挙人番号を入力してください")
            self._notice(self.zaigai.message)
            return False
        try:
            card = self.service.zaigai_lookup(z.zaigai_id)
        except MeiboError as e:
            self.zaigai = replace(z, message=f"× {e.message}")
            self._notice(self.zaigai.message)
            return False
        self.zaigai = replace(z, card=card, card_no="", message="")
        self.marks = MarksState(self.marks.oath_required, choices=self.marks.choices)  # 代理/点字 are per voter
        self._go(Intent.VOTER)
        if not card.registered:
            self._notice("× 在外選挙人名簿から抹消されています。交付できません")
        self._changed()
        return True

    @property
    def can_zaigai_checkin(self) -> bool:
        z = self.zaigai
        return z.can_checkin and not (self.marks.oath_required and self.marks.oath is None)

    async def zaigai_checkin(self) -> ResultState | None:
        """受付 for the 在外選挙人 on screen: recorded, then HQ's verdict, then the usual result screens."""
        if self.screen is not Screen.ZAIGAI_CONFIRM or self.zaigai.card is None:
            raise illegal(self.screen, Intent.CONFIRM)
        z = self.zaigai
        if len(z.card_no) < 4:
            self._notice("在外選挙人証の番号を入力してください")
            return None
        if self.marks.oath_required and self.marks.oath is None:
            self._notice("宣誓書の事由を選んでから「受付」を押してください")
            return None
        try:
            m = self.marks
            marks = self.service.checkin_marks(oath_reason=m.oath, proxy=m.proxy, braille=m.braille)
        except MeiboError as e:
            self._notice(f"× {e.message}")
            return None
        self._go(Intent.CONFIRM)
        self._changed()
        try:
            answer = await self.service.zaigai_checkin(z.zaigai_id, z.card_no, self.clerk, marks)
        except MeiboError as e:
            self._go(Intent.ZAIGAI_FAILED)
            self.zaigai = replace(self.zaigai, card_no="", letters=False, message=f"× {e.message}")
            self._notice(f"× 受付できませんでした: {e.message}")
            return None
        return self._answered(answer)

    # -- 仮投票 of a person not on the roll (behind the PIN) --------------------------------------
    def declare_unlisted(self) -> None:
        """名簿に見つからない方（仮投票）: from the search screens, through the supervisor PIN."""
        if self.screen not in (Screen.KANA, Screen.RESULTS):
            raise illegal(self.screen, Intent.SUPERVISOR)
        self.declare = DeclareState(name=self.search.state.query.strip())
        self._pin_for = "declare"
        self._go(Intent.SUPERVISOR)
        self.pin.reset()
        self._changed()

    def declare_kana(self, key: str) -> None:
        if self.screen is not Screen.DECLARE_NAME:
            raise illegal(self.screen, Intent.DECLARE)
        q = edit_kana(self.declare.name, key)
        if q is not None and len(q) <= 40:
            self.declare = replace(self.declare, name=q, message="")
        self._changed()

    def declare_name_done(self) -> None:
        if self.screen is not Screen.DECLARE_NAME:
            raise illegal(self.screen, Intent.NEXT)
        if not self.declare.name.strip():
            self.declare = replace(self.declare, message="申し立てられた氏名をカナで入力してください")
            return self._notice(self.declare.message)
        self._go(Intent.NEXT)
        self._changed()

    def declare_era(self, era: str) -> None:
        if self.screen is not Screen.DECLARE_BIRTH or era not in ERA_KEYS:
            raise illegal(self.screen, Intent.DECLARE)
        self.declare = replace(self.declare, birth=BirthInput(era), message="")
        self._changed()

    def declare_digit(self, d: str) -> None:
        if self.screen is not Screen.DECLARE_BIRTH:
            raise illegal(self.screen, Intent.DECLARE)
        self.declare = replace(self.declare, birth=birth_digit(self.declare.birth, d), message="")
        self._changed()

    def declare_birth_next(self) -> None:
        b = self.declare.birth
        self.declare = replace(self.declare, birth=replace(b, field=min(2, b.field + 1)))
        self._changed()

    def declare_birth_clear(self) -> None:
        self.declare = replace(self.declare, birth=BirthInput(), message="")
        self._changed()

    def declare_done(self, skip_birth: bool = False) -> bool:
        """次へ (with the birth date typed) or 生年月日なしで次へ: the 仮投票 form."""
        if self.screen is not Screen.DECLARE_BIRTH:
            raise illegal(self.screen, Intent.NEXT)
        born = None
        if not skip_birth:
            try:
                born = birth_date(self.declare.birth)
            except WarekiInvalid as e:
                self.declare = replace(self.declare, message=str(e.args[0]))
                self._notice(self.declare.message)
                return False
        d = P.Declared(self.declare.name.strip(), born)
        self._go(Intent.NEXT)
        self.confirm = None
        self.tentative = proc.declared_form(self.service.config, d)
        self._changed()
        return True

    # -- check-ins interrupted before their answer was shown ---------------------------------------
    def check_interrupted(self) -> None:
        """At start (the constructor calls it): any check-in recorded but never shown → the prompt."""
        rows = self.service.interrupted_checkins()
        if rows:
            self.interrupted = InterruptedState(rows[0], len(rows))
            self.screen = Screen.INTERRUPTED  # before anything else, at start
        else:
            self.interrupted = None

    def _after_interrupted(self) -> None:
        self.check_interrupted()
        if self.interrupted is not None:
            self.screen = Screen.INTERRUPTED
            return self._changed()
        if self._opening_after:
            self._opening_after = False
            self.show_opening()
        else:
            self._go(Intent.NEXT)
        self._changed()

    def interrupted_handed(self) -> None:
        """交付した: keep the check-in as it is, and mark it shown."""
        it = self.interrupted
        if self.screen is not Screen.INTERRUPTED or it is None:
            raise illegal(self.screen, Intent.NEXT)
        self.service.mark_shown(it.row.seq)
        self._after_interrupted()
        self._notice(f"受付 {it.row.seq} は交付済みとして残しました", "info")

    def interrupted_not_handed(self) -> None:
        """交付していない: the supervisor's PIN, then the check-in is voided (中断のため交付せず)."""
        if self.screen is not Screen.INTERRUPTED or self.interrupted is None:
            raise illegal(self.screen, Intent.SUPERVISOR)
        self._pin_for = "interrupted"
        self._go(Intent.SUPERVISOR)
        self.pin.reset()
        self._changed()

    def _void_interrupted(self) -> None:
        it = self.interrupted
        assert it is not None
        self._go(Intent.RESUME)
        self._pin_for = "menu"
        try:
            self.service.void(it.row.seq, INTERRUPTED_VOID_REASON, self.clerk)
        except MeiboError as e:
            return self._notice(f"× {e.message}")
        self.service.mark_shown(it.row.seq)
        self._after_interrupted()
        self._notice(f"受付 {it.row.seq} を取り消しました（理由: {INTERRUPTED_VOID_REASON}）", "info")

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
            raise illegal(self.screen, Intent.VOID)
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
            raise illegal(self.screen, Intent.COUNTS)
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
