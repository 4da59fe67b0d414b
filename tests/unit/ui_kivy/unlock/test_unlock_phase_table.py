"""The unlock screen's phase table: illegal events raise and change nothing; a PIN-only directory
never sees a card phase (its presenter never asks the port about readers or cards); the presenter
never imports Kivy."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ground.errors import IllegalTransition, MeiboError
from tests.unit.ui_kivy.unlock.fake_port import FakeUnlockPort
from ui_kivy.presenters.unlock import CARD_PHASES, TABLE, Phase, UnlockPresenter, step


def test_illegal_event_raises_and_leaves_the_phase(port: FakeUnlockPort) -> None:
    with pytest.raises(IllegalTransition) as ei:
        step(Phase.WAIT_CARD, "unlocked")
    assert ei.value.code == "illegal_transition"
    assert not any(k[0] in (Phase.LOCKED, Phase.UNLOCKED) for k in TABLE)  # terminal phases
    assert all(nxt is not Phase.UNLOCKED for (ph, _), nxt in TABLE.items() if ph in CARD_PHASES)  # only via the PIN
    p = UnlockPresenter(port, "X", card_port=port)
    p.poll()
    before = p.state
    with pytest.raises(IllegalTransition):
        p._go("unlocked")
    assert p.state == before


def test_pin_only_station_has_no_card_step() -> None:
    calls: list[str] = []

    class PinOnly:
        def unlock(self, pin: str) -> None:
            calls.append(pin)
            if pin != "2468":
                raise MeiboError("PIN が違います（あと 9 回まで）", code="pin_wrong", tries_left=9)

    p = UnlockPresenter(PinOnly(), "中区役所 期日前投票所")
    s = p.state
    assert not s.card_mode and s.phase is Phase.SUPERVISOR_PIN and s.prompt == "" and s.readers_text == ""
    assert s.title == "中区役所 期日前投票所: 投票所の開設（管理者 PIN で端末の記録を開きます）"
    assert s.masked == "PIN を入力してください" and s.submit_label == "開く"
    p.poll()  # nothing to watch
    assert p.state == s
    for d in "1111":
        p.digit(d)
    assert not p.submit() and p.state.message == "× PIN が違います（あと 9 回まで）"
    for d in "2468":
        p.digit(d)
    assert p.submit() and p.state.unlocked and calls == ["1111", "2468"]


def test_presenter_never_imports_kivy() -> None:
    code = "import sys, ui_kivy.presenters.unlock; print(any(m.startswith('kivy') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
