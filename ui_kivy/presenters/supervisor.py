"""Supervisor (投票管理者) screens behind a PIN: open/close, void with a reason, hourly counts.

The PIN is checked by the terminal (scrypt hash, appliance.terminal.check_pin). After
``KioskSettings.pin_attempts`` wrong PINs the pad locks for ``pin_lockout_s`` seconds (by the
service's clock). The hourly count screen shows 交付数 (entered) against 名簿対照数 (computed
from the journal) per contest; a difference is flagged with a word and a sign, not colour alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ground.names import display_name
from ui_kivy.service import CheckinRow, CountRow

VOID_REASONS = ("投票せずに帰った", "受付の誤り（別の方を受付）", "二重に受付した")


@dataclass(frozen=True)
class KioskSettings:
    pin_attempts: int = 3
    pin_lockout_s: float = 60.0
    pin_max_len: int = 12


@dataclass(frozen=True)
class PinState:
    digits: int = 0  # how many digits typed (shown as ●)
    message: str = ""
    locked_until: datetime | None = None

    @property
    def masked(self) -> str:
        return "●" * self.digits if self.digits else "PIN を入力してください"


class PinPad:
    def __init__(self, settings: KioskSettings) -> None:
        self.settings = settings
        self._buf = ""
        self._wrong = 0
        self.state = PinState()

    def reset(self) -> None:
        self._buf = ""
        self.state = replace(self.state, digits=0, message="")

    def digit(self, d: str) -> None:
        if len(d) == 1 and d.isdigit() and len(self._buf) < self.settings.pin_max_len:
            self._buf += d
            self.state = replace(self.state, digits=len(self._buf), message="")

    def backspace(self) -> None:
        self._buf = self._buf[:-1]
        self.state = replace(self.state, digits=len(self._buf))

    def submit(self, check: Callable[[str], bool], now: datetime) -> bool:
        lock = self.state.locked_until
        if lock is not None and now < lock:
            self._buf = ""
            self.state = replace(self.state, digits=0,
                                 message=f"PIN の誤りが続いたため {lock:%H:%M:%S} まで入力できません")
            return False
        pin, self._buf = self._buf, ""
        if pin and check(pin):
            self._wrong = 0
            self.state = PinState()
            return True
        self._wrong += 1
        if self._wrong >= self.settings.pin_attempts:
            self._wrong = 0
            until = now + timedelta(seconds=self.settings.pin_lockout_s)
            self.state = PinState(0, f"PIN が違います。{until:%H:%M:%S} まで入力できません", until)
        else:
            left = self.settings.pin_attempts - self._wrong
            self.state = replace(self.state, digits=0, message=f"PIN が違います（あと {left} 回）")
        return False


@dataclass(frozen=True)
class VoidRowView:
    seq: int
    text: str  # "受付 12  12:03  山田 太郎  衆議院…ほか"
    voided: bool
    selected: bool
    name: str = ""  # the voter's name in ``text`` as shown (display_name): the view draws it in the name font


@dataclass(frozen=True)
class VoidState:
    rows: tuple[VoidRowView, ...] = ()
    reasons: tuple[str, ...] = VOID_REASONS
    reason: str = ""
    selected: int | None = None
    message: str = ""

    @property
    def can_void(self) -> bool:
        return self.selected is not None and bool(self.reason)


def void_rows(rows: list[CheckinRow], selected: int | None) -> tuple[VoidRowView, ...]:
    out = []
    for r in rows:
        names = "・".join(r.contest_names)
        mark = "（取消済）" if r.voided else ""
        name = display_name(r.name, r.kana)
        out.append(VoidRowView(r.seq, f"受付 {r.seq}  {r.at:%H:%M}  {name}  {names}{mark}", r.voided,
                               r.seq == selected, name))
    return tuple(out)


@dataclass(frozen=True)
class CountView:
    contest: str
    name: str
    recorded_text: str  # 名簿対照数 12
    issued_text: str  # 交付数 12 / 未入力 / (typing) 1_
    diff_text: str  # "一致" / "！ 差 +1（交付数が多い）"
    mismatch: bool
    selected: bool


@dataclass(frozen=True)
class CountsState:
    hour: int
    rows: tuple[CountView, ...]
    selected: str | None = None
    entry: str = ""
    message: str = ""


def count_views(rows: list[CountRow], selected: str | None, entry: str) -> tuple[CountView, ...]:
    out = []
    for r in rows:
        if r.contest == selected:
            issued = f"交付数 {entry or '_'}（入力中）"
        else:
            issued = "交付数 未入力" if r.issued is None else f"交付数 {r.issued}（{r.hour}時）"
        d = r.diff
        if d is None:
            diff, bad = "—", False
        elif d == 0:
            diff, bad = "○ 一致", False
        else:
            more = "交付数が多い" if d > 0 else "交付数が少ない"
            diff, bad = f"！ 不一致 差 {d:+d}（{more}）", True
        out.append(CountView(r.contest, r.name, f"名簿対照数 {r.recorded}", issued, diff, bad, r.contest == selected))
    return tuple(out)
