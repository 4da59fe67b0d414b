"""The kiosk's 試験モード (リハーサル): the banner every screen shows, the supervisor menu's item,
the ゼロ確認 result shown when test mode ends, and 「試験手順を実行」: the scripted steps of
appliance.rehearsal.run with 期待 / 結果 / 合格・不合格・スキップ per step (the word always with the
colour), and the report PDF's name.

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
RUN = "run"
RUN_MENU = "試験手順を実行"
RESULT_WORD = {"PASS": "合格", "FAIL": "不合格", "SKIP": "スキップ"}


class RehearsalPort(Protocol):
    def active(self) -> bool: ...

    def start(self) -> dict[str, Any]: ...

    def finish(self) -> dict[str, Any]: ...

    def run(self) -> dict[str, Any]: ...  # RunReport.as_dict(), plus "pdf" when written


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
    pdf: str = ""  # the ゼロ確認書 written, if any

    @property
    def ok(self) -> bool:
        return self.verdict != "FAIL"

    @classmethod
    def of(cls, proof: dict[str, Any]) -> "ZeroProofState":
        word = {"PASS": "ゼロ確認: 確認済", "PASS_UNCONFIRMED": "ゼロ確認: 確認済（一部未確認）",
                "FAIL": "ゼロ確認: 不一致があります。本部に連絡してください"}[proof["verdict"]]
        return cls(proof["verdict"], word,
                   tuple(ProofLine(c["name"], c["seen"], c["result"]) for c in proof["checks"]),
                   str(proof.get("pdf") or ""))


@dataclass(frozen=True)
class StepLine:
    """One scripted step (試験手順): what was expected, what was seen, 合格/不合格/スキップ."""
    name: str
    expected: str
    seen: str
    result: str  # PASS | FAIL | SKIP

    @property
    def word(self) -> str:
        return RESULT_WORD.get(self.result, self.result)

    @property
    def text(self) -> str:
        mark = {"PASS": "○", "FAIL": "×", "SKIP": "－"}.get(self.result, "?")
        return f"{mark} {self.name}: {self.word}"


@dataclass(frozen=True)
class RunState:
    verdict: str  # PASS | INCOMPLETE | FAIL
    title: str
    steps: tuple[StepLine, ...]
    pdf: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict != "FAIL"

    @classmethod
    def of(cls, rep: dict[str, Any]) -> "RunState":
        word = {"PASS": "試験手順: すべて合格", "INCOMPLETE": "試験手順: 合格（一部スキップ）",
                "FAIL": "試験手順: 不合格があります。本部に連絡してください"}[rep["verdict"]]
        return cls(rep["verdict"], word,
                   tuple(StepLine(s["name"], s["expected"], s["seen"], s["result"]) for s in rep["steps"]),
                   str(rep.get("pdf") or ""))


class RehearsalPresenter:
    def __init__(self, port: RehearsalPort, on_switch: Callable[[str], None] | None = None) -> None:
        self.port = port
        self.on_switch = on_switch  # the app closes the kiosk's terminal, then calls enter()/leave()
        self.active = port.active()
        self.proof: ZeroProofState | None = None
        self.report: RunState | None = None
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

    def run_pressed(self) -> None:
        """「試験手順を実行」 (in test mode only): the steps need the test area to themselves, so the
        app closes the kiosk's terminal first, then calls run_steps() off the UI thread."""
        self.message = ""
        if self.active and self.on_switch is not None:
            self.on_switch(RUN)

    def run_steps(self) -> RunState | None:
        """Slow (the sync step waits for HQ): the app calls it in a worker thread."""
        self.report = None
        try:
            rep = self.port.run()
        except MeiboError as e:
            self.message = e.message
            return None
        except OSError as e:  # e.g. the reports directory full or unwritable: said, not a crash
            self.message = f"試験手順の報告書を書けませんでした（{e.strerror or e}）。本部に連絡してください"
            return None
        self.report = RunState.of(rep)
        return self.report

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


__all__ = ["RUN", "RUN_MENU", "RunState", "StepLine", "BANNER", "ENTER", "LEAVE", "RehearsalPort", "RehearsalPresenter", "ZeroProofState", "ProofLine"]
