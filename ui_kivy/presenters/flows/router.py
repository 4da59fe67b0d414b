"""The kiosk's router: which screen is up, as one table, and the plumbing every flow presenter shares.

A transition not in ``TRANSITIONS`` raises ``IllegalTransition`` and leaves everything unchanged.
A presenter moves with ``go(intent)``, sets the notice line with ``tell``, and calls ``notify``
after a change so that a view re-reads the state. Work that must happen whenever a screen is
entered or left, whoever moved (a result on screen is marked shown as soon as anyone leaves it;
待受 re-reads the station when it comes back), is registered with ``on_enter`` / ``on_leave``;
per-voter state is forgotten through ``on_voter_done`` hooks when the kiosk returns to 待受.

Never imports Kivy; time comes from the service's clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from ground.errors import IllegalTransition
from ui_kivy.presenters.supervisor import KioskSettings
from ui_kivy.service import KioskService


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


def illegal(screen: Screen, intent: Intent) -> IllegalTransition:
    """The kiosk's refusal of a button on the wrong screen (the one ``IllegalTransition``)."""
    return IllegalTransition(f"この画面ではできません（{screen.value} で {intent.value}）",
                             screen=screen.value, intent=intent.value)


@dataclass(frozen=True)
class Notice:
    text: str
    level: str  # info | error


Hook = Callable[[], None]


class Router:
    """Screen state and the plumbing of every flow; ``KioskFlow`` is one, with the presenters wired in."""

    def __init__(self, service: KioskService, clerk: str, settings: KioskSettings = KioskSettings()) -> None:
        self.service = service
        self.clerk = clerk
        self.settings = settings
        self.screen = Screen.IDLE
        self.notice: Notice | None = None
        self._listeners: list[Hook] = []
        self._on_enter: dict[Screen, list[Hook]] = {}
        self._on_leave: dict[Screen, list[Hook]] = {}
        self._voter_done: list[Hook] = []

    def subscribe(self, cb: Hook) -> Callable[[], None]:
        self._listeners.append(cb)
        return lambda: self._listeners.remove(cb) if cb in self._listeners else None

    def notify(self) -> None:
        for cb in list(self._listeners):
            cb()

    def can(self, intent: Intent) -> bool:
        return intent in TRANSITIONS[self.screen]

    def go(self, intent: Intent) -> None:
        nxt = TRANSITIONS[self.screen].get(intent)
        if nxt is None:
            raise illegal(self.screen, intent)
        for cb in self._on_leave.get(self.screen, ()):
            cb()
        self.screen = nxt
        self.notice = None
        for cb in self._on_enter.get(nxt, ()):
            cb()

    def tell(self, text: str, level: str = "error") -> None:
        """The notice line (cleared by the next move), then the listeners."""
        self.notice = Notice(text, level)
        self.notify()

    def on_enter(self, screen: Screen, cb: Hook) -> None:
        self._on_enter.setdefault(screen, []).append(cb)

    def on_leave(self, screen: Screen, cb: Hook) -> None:
        self._on_leave.setdefault(screen, []).append(cb)

    def on_voter_done(self, cb: Hook) -> None:
        """``cb`` forgets a presenter's per-voter state when the kiosk is done with a voter."""
        self._voter_done.append(cb)

    def voter_done(self) -> None:
        for cb in self._voter_done:
            cb()

    def now(self) -> datetime:
        return self.service.now()
