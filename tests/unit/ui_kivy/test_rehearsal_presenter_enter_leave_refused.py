"""The kiosk's 試験モード presenter without a window: the menu item asks the app to switch, the
banner follows the mode, a refused finish keeps test mode and says why, a finished one gives the
zero proof's lines."""

from __future__ import annotations

from typing import Any

from appliance.rehearsal import RealJournalNotEmpty
from ui_kivy.presenters.rehearsal import BANNER, ENTER, LEAVE, RehearsalPresenter, ZeroProofState

PROOF = {"verdict": "PASS_UNCONFIRMED", "checks": [
    {"name": "本番の受付記録", "seen": "0 件", "result": "PASS"},
    {"name": "名簿・選挙の版が本部と一致", "seen": "未確認: 本部に接続できません", "result": "未確認"}]}


class Port:
    def __init__(self, active: bool = False, refuse: bool = False) -> None:
        self.on = active
        self.refuse = refuse

    def active(self) -> bool:
        return self.on

    def start(self) -> dict[str, Any]:
        self.on = True
        return {}

    def finish(self) -> dict[str, Any]:
        if self.refuse:
            raise RealJournalNotEmpty("本番の受付記録が空ではありません（1 件）")
        self.on = False
        return PROOF


def test_enter_then_leave_gives_the_proof() -> None:
    asked: list[str] = []
    p = RehearsalPresenter(Port(), asked.append)
    assert p.banner == "" and p.menu_text == "試験モード（リハーサル）を開始"
    p.menu_pressed()
    assert asked == [ENTER] and not p.active  # the app switches, after closing the kiosk's terminal
    assert p.enter() and p.active and p.banner == BANNER and p.menu_text == "試験モードを終了（ゼロ確認）"
    p.menu_pressed()
    assert asked == [ENTER, LEAVE]
    proof = p.leave()
    assert proof == ZeroProofState.of(PROOF) and not p.active and p.banner == ""
    assert proof.title == "ゼロ確認: 確認済（一部未確認）" and proof.ok
    assert [ln.text for ln in proof.lines] == ["○ 本番の受付記録: 0 件（PASS）",
                                               "－ 名簿・選挙の版が本部と一致: 未確認: 本部に接続できません（未確認）"]


def test_refused_finish_stays_in_test_mode_and_says_why() -> None:
    p = RehearsalPresenter(Port(active=True, refuse=True))
    assert p.active and p.banner == BANNER
    assert p.leave() is None
    assert p.active and p.proof is None and "空ではありません" in p.message
