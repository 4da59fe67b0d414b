"""The kiosk's 試験モード (リハーサル): the banner every screen shows, the supervisor menu's item,
and the ゼロ確認 result shown when test mode ends.

Plain Python, no Kivy (views/rehearsal.py draws it). The verbs are appliance/rehearsal.py's,
reached through a ``RehearsalPort`` so the presenter is tested without files; the app
(ui_kivy/app.py) or a test wires ``on_switch``: the kiosk must close the terminal it runs on
before the mode changes (finishing shreds the test store), so the presenter never switches by
itself, it asks. The menu item sits behind the supervisor PIN like every menu item, so both
starting and leaving test mode need the PIN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ground.errors import MeiboError

BANNER = "試験モード（リハーサル）　本番の受付ではありません"
ENTER = "enter"
LEAVE = "leave"


class RehearsalPort(Protocol):
    def active(self) -> bool: ...

    def start(self) -> dict[str, Any]: ...

    def finish(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ProofLine:
    name: str
    seen: str
    result: str  # PASS | FAIL | 未確認

    @property
    def text(self) -> str:
        mark = {"PASS": "○", "FAIL": "×", "未確認": "－"}.get(self.result, "?")
        return f"{mark} {self.name}: {self.seen}（{self.result}）"


@dataclass(frozen=True)
class ZeroProofState:
    verdict: str  # PASS | PASS_UNCONFIRMED | FAIL
    title: str
    lines: tuple[ProofLine, ...]

    @property
    def ok(self) -> bool:
        return self.verdict != "FAIL"

    @classmethod
    def of(cls, proof: dict[str, Any]) -> "ZeroProofState":
        word = {"PASS": "ゼロ確認: 確認済", "PASS_UNCONFIRMED": "ゼロ確認: 確認済（一部未確認）",
                "FAIL": "ゼロ確認: 不一致があります。本部に連絡してください"}[proof["verdict"]]
        return cls(proof["verdict"], word,
                   tuple(ProofLine(c["name"], c["seen"], c["result"]) for c in proof["checks"]))


class RehearsalPresenter:
    def __init__(self, port: RehearsalPort, on_switch: Callable[[str], None] | None = None) -> None:
        self.port = port
        self.on_switch = on_switch  # the app closes the kiosk's terminal, then calls enter()/leave()
        self.active = port.active()
        self.proof: ZeroProofState | None = None
        self.message = ""

    @property
    def banner(self) -> str:
        return BANNER if self.active else ""

    @property
    def menu_text(self) -> str:
        return "試験モードを終了（ゼロ確認）" if self.active else "試験モード（リハーサル）を開始"

    def menu_pressed(self) -> None:
        """The supervisor menu's item (already behind the PIN): ask the app to switch."""
        self.message = ""
        if self.on_switch is not None:
            self.on_switch(LEAVE if self.active else ENTER)

    def enter(self) -> bool:
        """Called by the app once the real kiosk's terminal is closed."""
        try:
            self.port.start()
        except MeiboError as e:
            self.message = e.message
            return False
        self.active, self.proof = True, None
        return True

    def leave(self) -> ZeroProofState | None:
        """Called by the app once the test kiosk's terminal is closed: destroy, prove, show."""
        try:
            proof = self.port.finish()
        except MeiboError as e:  # e.g. real_journal_not_empty: test mode stays, and says why
            self.message = e.message
            return None
        self.active = False
        self.proof = ZeroProofState.of(proof)
        return self.proof


__all__ = ["BANNER", "ENTER", "LEAVE", "RehearsalPort", "RehearsalPresenter", "ZeroProofState", "ProofLine"]
