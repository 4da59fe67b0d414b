"""A wrong card PIN returns to the pad with the tries the card has left (the 投票管理者 PIN already
chosen is kept); the third wrong PIN locks the card and the screen says so; TDIR stays absent."""

from __future__ import annotations

from pathlib import Path

from tests.unit.ui_kivy.enroll.conftest import PIN, type_pin, up_to_enroll
from tests.unit.ui_kivy.enroll.fake_port import FakeCard, FakeEnrollPort
from ui_kivy.presenters.enroll import EnrollPresenter, Phase


async def test_wrong_pin_tries_left_then_right_pin(tmp_path: Path, port: FakeEnrollPort, card: FakeCard) -> None:
    p = EnrollPresenter(port)
    await up_to_enroll(p, port, card, card_pin="111111")
    assert p.phase is Phase.CARD_PIN
    assert p.state.message == "× カードの暗証番号が違います（あと 2 回間違えるとカードがロックされます）"
    assert p.state.level == "error" and p.state.card is not None and p.state.card.tries_left == 2
    assert not (tmp_path / "T01").exists()
    type_pin(p, PIN)
    await p.submit()  # straight to enrolling: the supervisor PIN was kept
    assert p.phase is Phase.DONE, p.state.message
    assert (tmp_path / "T01" / "terminal.toml").exists()


async def test_third_wrong_pin_locks_the_card(tmp_path: Path, port: FakeEnrollPort, card: FakeCard) -> None:
    p = EnrollPresenter(port)
    await up_to_enroll(p, port, card, card_pin="111111")
    for left in (1,):
        type_pin(p, "222222")
        await p.submit()
        assert p.state.message == f"× カードの暗証番号が違います（あと {left} 回間違えるとカードがロックされます）"
    type_pin(p, "333333")
    await p.submit()
    assert p.phase is Phase.FAILED and p.state.error_code == "card_locked"
    assert "カードはロックされています" in p.state.message and "新しいカードを発行" in p.state.message
    assert not (tmp_path / "T01").exists()
    assert p.state.buttons == (("retry", "最初からやり直す"),)
    p.retry()
    p.poll()  # the locked card is still in: refused before any PIN
    assert p.phase is Phase.FAILED and p.state.error_code == "card_locked"
    port.remove()
    p.poll()
    assert p.phase is Phase.WAIT_CARD and "カードはロックされています" in p.state.message  # still readable
    port.insert(FakeCard(pin=PIN, serial="00000000000000A2"))
    p.poll()
    assert p.phase is Phase.CARD_PIN and p.state.message == ""  # a new card: a new start


async def test_pin_length_checked_before_the_card(port: FakeEnrollPort, card: FakeCard) -> None:
    p = EnrollPresenter(port)
    p.poll()
    port.insert(card)
    p.poll()
    type_pin(p, "12")
    await p.submit()
    assert p.phase is Phase.CARD_PIN and p.state.message == "× カードの暗証番号は 4〜12 桁です"
    assert card.tries_left == 3 and "enroll" not in port.calls
