"""The enrollment screen's phase table: illegal events raise and change nothing; the supervisor
PIN must be typed the same twice; やめる exists only when re-enrolling; re-enrollment keeps the
old directory; the presenter never imports Kivy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ground.errors import IllegalTransition
from tests.unit.ui_kivy.enroll.conftest import PIN, SUPERVISOR, type_pin, up_to_enroll
from tests.unit.ui_kivy.enroll.fake_port import FakeCard, FakeEnrollPort
from ui_kivy.presenters.enroll import TABLE, EnrollPresenter, Phase, step


def test_illegal_event_raises_and_leaves_the_phase() -> None:
    with pytest.raises(IllegalTransition) as ei:
        step(Phase.WAIT_CARD, "confirm")
    assert ei.value.code == "illegal_transition"
    assert (Phase.ENROLLING, "cancel") not in TABLE  # nothing stops a running enrollment half-way
    assert not any(k[0] in (Phase.FINISHED, Phase.CANCELLED) for k in TABLE)  # terminal phases


async def test_submit_where_no_pad_raises_unchanged(port: FakeEnrollPort) -> None:
    p = EnrollPresenter(port)
    p.poll()
    before = p.state
    with pytest.raises(IllegalTransition):
        await p.submit()
    assert p.state == before
    with pytest.raises(IllegalTransition):
        p.cancel()  # first enrollment: there is no kiosk to go back to
    assert p.state == before


async def test_supervisor_pins_must_match(port: FakeEnrollPort, card: FakeCard) -> None:
    p = EnrollPresenter(port)
    p.poll()
    port.insert(card)
    p.poll()
    type_pin(p, PIN)
    await p.submit()
    type_pin(p, "12")
    await p.submit()
    assert p.phase is Phase.SUPERVISOR_PIN and "4〜12 桁" in p.state.message
    type_pin(p, SUPERVISOR)
    await p.submit()
    type_pin(p, "9999")
    await p.submit()
    assert p.phase is Phase.SUPERVISOR_PIN
    assert p.state.message == "× 2 回の PIN が一致しません。もう一度決めてください"
    assert "enroll" not in port.calls
    p.back()
    assert p.phase is Phase.CARD_PIN


async def test_reenroll_offers_cancel_and_keeps_the_old_directory(tmp_path: Path, port: FakeEnrollPort,
                                                                   card: FakeCard) -> None:
    (tmp_path / "T01").mkdir()
    (tmp_path / "T01" / "terminal.toml").write_text("old", "utf-8")
    finished: list[object] = []
    p = EnrollPresenter(port, replace=True, election_id="yokohama-2027", on_finished=finished.append)
    p.poll()
    assert p.state.title == "端末の登録し直し（スマートカード）"
    assert ("cancel", "やめる（受付画面に戻る）") in p.state.buttons
    await up_to_enroll(p, port, card)
    assert p.phase is Phase.DONE
    assert p.state.result is not None and p.state.result.replaced == str(tmp_path / "T01.replaced-fake")
    assert "前の端末ディレクトリは" in p.state.done_text
    assert (tmp_path / "T01.replaced-fake" / "terminal.toml").read_text("utf-8") == "old"


async def test_cancel_when_reenrolling(port: FakeEnrollPort) -> None:
    finished: list[object] = []
    p = EnrollPresenter(port, replace=True, on_finished=finished.append)
    p.poll()
    p.cancel()
    assert p.phase is Phase.CANCELLED and finished == [None]


def test_presenter_imports_no_kivy() -> None:
    code = ("import sys, ui_kivy.presenters.enroll, ui_kivy.presenters.unlock; "
            "bad = [m for m in sys.modules if m.startswith(('kivy', 'aiohttp', 'smartcard'))]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_reenroll_refuses_a_card_for_this_live_terminal(port: FakeEnrollPort) -> None:
    p = EnrollPresenter(port, replace=True, election_id="yokohama-2027", live_terminal="T01")
    p.poll()
    port.insert(FakeCard(terminal="T01"))
    p.poll()
    assert p.phase is Phase.FAILED and p.state.error_code == "terminal_went_live"
    assert "別の端末 ID の登録カード" in p.state.message and "enroll" not in port.calls
    port.remove()
    p.poll()
    port.insert(FakeCard(terminal="T07", serial="00000000000000A2"))
    p.poll()
    assert p.phase is Phase.CARD_PIN and p.state.card is not None and p.state.card.terminal == "T07"
