"""The kiosk's flow (画面遷移): ``KioskFlow``, the router with one presenter per flow wired in.

``KioskFlow`` is the one object a view talks to: it subscribes with ``subscribe(cb)`` and
re-reads ``flow`` on every change. The screen table, the notice line and the listeners are the
router's (flows/router.py); each flow's screens and intents are one presenter's, in its own
module under flows/: lookup (scan, kana search, birth narrowing, pick), checkin (marks, 受付, the
result, the hard stop, 次の方へ), tentative (仮投票, also of a person not on the roll), supervisor
(PIN, menu, 開設 and the opening check, 報告, 端末の登録, 取消, 交付数), closing (閉鎖 figures),
zaigai (在外選挙人), interrupted (check-ins whose answer nobody saw) and status (status bar, tick,
late alerts). The presenters are ``flow.flows.<name>`` and each can be driven without this class.

For the views and tests that call ``flow.on_barcode``, ``flow.confirm``, ``flow.pin_submit`` …,
every public name KioskFlow had before the split still works: it is forwarded to the presenter
that owns it (the table below, one line a name; state names can be written too). Only ``back``
is KioskFlow's own: 戻る crosses flows. Leaving for 待受 forgets the voter in every flow.

Never imports Kivy; time comes from the service's clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast, overload

from ui_kivy.presenters import closing as closing_entry
from ui_kivy.presenters import procedures as proc
from ui_kivy.presenters import zaigai as zg
from ui_kivy.presenters.confirm import ConfirmState
from ui_kivy.presenters.flows.checkin import CheckinPresenter, HardStopHandler, MarksState
from ui_kivy.presenters.flows.closing import ClosingPresenter
from ui_kivy.presenters.flows.interrupted import INTERRUPTED_VOID_REASON, InterruptedPresenter, InterruptedState
from ui_kivy.presenters.flows.lookup import LookupPresenter
from ui_kivy.presenters.flows.router import (SCAN_SCREENS, SUPERVISOR_SCREENS, TRANSITIONS, Intent, Notice, Router,
                                             Screen, illegal)
from ui_kivy.presenters.flows.status import AlertState, StatusPresenter
from ui_kivy.presenters.flows.supervisor import MenuState, SupervisorPresenter
from ui_kivy.presenters.flows.tentative import DeclareState, TentativePresenter
from ui_kivy.presenters.flows.zaigai import ZaigaiPresenter
from ui_kivy.presenters.idle import IdleState
from ui_kivy.presenters.result import Action, ResultState
from ui_kivy.presenters.search import SearchPresenter
from ui_kivy.presenters.status import StatusState
from ui_kivy.presenters.supervisor import CountsState, KioskSettings, PinPad, VoidState
from ui_kivy.service import KioskService, RadioInfo

T = TypeVar("T")


@dataclass(frozen=True)
class Flows:
    """The kiosk's presenters, one per flow (views mirror them in ui_kivy/views/screens/)."""

    status: StatusPresenter
    checkin: CheckinPresenter
    lookup: LookupPresenter
    supervisor: SupervisorPresenter
    tentative: TentativePresenter
    zaigai: ZaigaiPresenter
    closing: ClosingPresenter
    interrupted: InterruptedPresenter


class _To(Generic[T]):
    """A facade name of KioskFlow that lives on the flow presenter ``flows.<part>`` under the same name."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _To[T]: ...

    @overload
    def __get__(self, obj: KioskFlow, owner: type | None = None) -> T: ...

    def __get__(self, obj: KioskFlow | None, owner: type | None = None) -> _To[T] | T:
        if obj is None:
            return self
        return cast(T, getattr(getattr(obj.flows, self.part), self.name))

    def __set__(self, obj: KioskFlow, value: T) -> None:
        setattr(getattr(obj.flows, self.part), self.name, value)


Intent0 = Callable[[], None]
Key = Callable[[str], None]


class _DeclareDone(Protocol):
    def __call__(self, skip_birth: bool = False) -> bool: ...


class _Void(Protocol):
    def __call__(self, seq: int | None = None, reason: str | None = None) -> bool: ...


class _HourlyCount(Protocol):
    def __call__(self, contest: str | None = None, issued: int | None = None) -> bool: ...


class KioskFlow(Router):
    def __init__(self, service: KioskService, clerk: str, settings: KioskSettings = KioskSettings()) -> None:
        super().__init__(service, clerk, settings)
        status = StatusPresenter(self)
        checkin = CheckinPresenter(self, status)
        lookup = LookupPresenter(self, checkin, status)
        supervisor = SupervisorPresenter(self, status)
        self.flows = Flows(status, checkin, lookup, supervisor, TentativePresenter(self, checkin, supervisor,
                                                                                    lookup.search),
                           ZaigaiPresenter(self, checkin), ClosingPresenter(self, supervisor),
                           InterruptedPresenter(self, supervisor))
        self.flows.interrupted.check_interrupted()  # last: at start the interrupted check-ins come first

    def back(self) -> None:
        """戻る: one step back on every screen; to 待受 forgets the voter (and the PIN typed)."""
        if self.flows.interrupted.asking_pin:
            return self.flows.interrupted.back_from_pin()
        self.go(Intent.BACK)
        if self.screen is Screen.IDLE:
            self.voter_done()
            self.flows.supervisor.pin.reset()
        if self.screen is Screen.ZAIGAI_ID:
            self.flows.zaigai.back_to_number()
        self.notify()

    # -- the facade: each name, and the flow presenter that owns it ----------------------------------
    # status
    status = _To[StatusState]("status")
    alerts = _To[list[AlertState]]("status")
    alert = _To[AlertState | None]("status")
    radios = _To[list[RadioInfo] | None]("status")
    scanner_connected = _To[bool | None]("status")
    set_radios = _To[Callable[[list[RadioInfo] | None], None]]("status")
    refresh_status = _To[Intent0]("status")
    tick = _To[Intent0]("status")
    acknowledge_alert = _To[Intent0]("status")
    # lookup
    idle = _To[IdleState]("lookup")
    zaigai_here = _To[bool]("lookup")
    search = _To[SearchPresenter]("lookup")
    on_barcode = _To[Key]("lookup")
    on_scan_event = _To[Callable[[Any], None]]("lookup")
    open_search = _To[Intent0]("lookup")
    on_kana = _To[Key]("lookup")
    show_results = _To[Intent0]("lookup")
    open_birth = _To[Intent0]("lookup")
    birth_era = _To[Key]("lookup")
    birth_digit = _To[Key]("lookup")
    birth_next = _To[Intent0]("lookup")
    birth_clear = _To[Intent0]("lookup")
    birth_apply = _To[Intent0]("lookup")
    pick = _To[Key]("lookup")
    # checkin
    confirm = _To[ConfirmState | None]("checkin")
    marks = _To[MarksState]("checkin")
    absentee = _To[proc.Panel | None]("checkin")
    result = _To[ResultState | None]("checkin")
    result_voter_id = _To[str | None]("checkin")
    unshown_seq = _To[int | None]("checkin")
    can_confirm = _To[bool]("checkin")
    choose_oath = _To[Key]("checkin")
    choose_age_id = _To[Key]("checkin")
    age_panel = _To[proc.Panel | None]("checkin")
    toggle_proxy = _To[Intent0]("checkin")
    toggle_braille = _To[Intent0]("checkin")
    confirm_checkin = _To[Callable[[], Awaitable[ResultState | None]]]("checkin")
    result_shown = _To[Intent0]("checkin")
    add_hard_stop_action = _To[Callable[[Action, HardStopHandler], None]]("checkin")
    on_result_action = _To[Callable[[str], Awaitable[None]]]("checkin")
    next_voter = _To[Intent0]("checkin")
    # tentative
    tentative = _To[proc.TentativeForm | None]("tentative")
    declare = _To[DeclareState]("tentative")
    doubt_identity = _To[Intent0]("tentative")
    tentative_toggle = _To[Key]("tentative")
    tentative_reason = _To[Key]("tentative")
    tentative_decided_by = _To[Key]("tentative")
    submit_tentative = _To[Callable[[], bool]]("tentative")
    leave_tentative = _To[Intent0]("tentative")
    declare_unlisted = _To[Intent0]("tentative")
    declare_kana = _To[Key]("tentative")
    declare_name_done = _To[Intent0]("tentative")
    declare_era = _To[Key]("tentative")
    declare_digit = _To[Key]("tentative")
    declare_birth_next = _To[Intent0]("tentative")
    declare_birth_clear = _To[Intent0]("tentative")
    declare_done = _To[_DeclareDone]("tentative")
    # supervisor
    pin = _To[PinPad]("supervisor")
    menu = _To[MenuState]("supervisor")
    void_state = _To[VoidState]("supervisor")
    counts_state = _To[CountsState]("supervisor")
    opening = _To[proc.Panel | None]("supervisor")
    opening_ok = _To[bool]("supervisor")
    report = _To[proc.Panel | None]("supervisor")
    on_enroll = _To[Callable[[], None] | None]("supervisor")
    open_supervisor = _To[Intent0]("supervisor")
    pin_digit = _To[Key]("supervisor")
    pin_backspace = _To[Intent0]("supervisor")
    pin_submit = _To[Callable[[], bool]]("supervisor")
    open_station = _To[Intent0]("supervisor")
    show_opening = _To[Intent0]("supervisor")
    open_report = _To[Intent0]("supervisor")
    enroll = _To[Intent0]("supervisor")
    open_void = _To[Intent0]("supervisor")
    void_select = _To[Callable[[int], None]]("supervisor")
    void_reason = _To[Key]("supervisor")
    void = _To[_Void]("supervisor")
    open_counts = _To[Intent0]("supervisor")
    counts_select = _To[Key]("supervisor")
    counts_digit = _To[Key]("supervisor")
    counts_backspace = _To[Intent0]("supervisor")
    enter_hourly_count = _To[_HourlyCount]("supervisor")
    # closing
    close_entry = _To[closing_entry.ClosingEntry]("closing")
    closing = _To[proc.Panel | None]("closing")
    close_station = _To[Intent0]("closing")
    closing_select = _To[Callable[[str, int], None]]("closing")
    closing_digit = _To[Key]("closing")
    closing_backspace = _To[Intent0]("closing")
    closing_next = _To[Intent0]("closing")
    submit_closing = _To[Callable[[], bool]]("closing")
    # zaigai
    zaigai = _To[zg.ZaigaiState]("zaigai")
    can_zaigai_checkin = _To[bool]("zaigai")
    open_zaigai = _To[Intent0]("zaigai")
    zaigai_digit = _To[Key]("zaigai")
    zaigai_letters = _To[Intent0]("zaigai")
    zaigai_backspace = _To[Intent0]("zaigai")
    zaigai_lookup = _To[Callable[[], bool]]("zaigai")
    zaigai_checkin = _To[Callable[[], Awaitable[ResultState | None]]]("zaigai")
    # interrupted
    interrupted = _To[InterruptedState | None]("interrupted")
    check_interrupted = _To[Intent0]("interrupted")
    interrupted_handed = _To[Intent0]("interrupted")
    interrupted_not_handed = _To[Intent0]("interrupted")


__all__ = ["KioskFlow", "Flows", "Screen", "Intent", "TRANSITIONS", "SCAN_SCREENS", "SUPERVISOR_SCREENS",
           "INTERRUPTED_VOID_REASON", "illegal", "Notice", "AlertState", "MarksState", "MenuState",
           "InterruptedState", "DeclareState", "HardStopHandler", "Router"]
