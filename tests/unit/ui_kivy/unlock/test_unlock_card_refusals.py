"""Cards the unlock refuses, plainly and before any PIN: another terminal's card
(``card_other_terminal``), a card that did not seal this store (``card_mismatch``), a locked card;
the third wrong card PIN locks the card and the screen says so. Pulling a refused card returns to
the card step; no PC/SC service is said plainly too."""

from __future__ import annotations

from dataclasses import replace

from tests.unit.ui_kivy.unlock.conftest import CARD_PIN, card_in, type_pin
from tests.unit.ui_kivy.unlock.fake_port import FakeCard, FakeUnlockPort, other_terminal_card
from ui_kivy.presenters.unlock import Phase, UnlockPresenter


def test_other_terminals_card_is_refused_plainly(presenter: UnlockPresenter, port: FakeUnlockPort,
                                                 card: FakeCard) -> None:
    p = presenter
    card_in(p, port, other_terminal_card())
    assert p.phase is Phase.CARD_REFUSED and p.state.error_code == "card_other_terminal"
    assert p.state.message == ("× この端末の登録カードではありません（別の端末・選挙のカードです）。"
                               "この端末の登録カードを差し込んでください")
    assert p.state.prompt == "このカードでは開設できません。カードを抜いてください"
    assert not p.state.pad_enabled and p.state.level == "error"
    p.digit("1")
    assert not p.submit() and p.state.digits == 0 and "verify_card_pin" not in port.calls
    port.remove()
    p.poll()
    assert p.phase is Phase.WAIT_CARD and p.state.message == "" and p.state.error_code == "card_other_terminal"
    port.insert(card)
    p.poll()
    assert p.phase is Phase.CARD_PIN and p.state.error_code == ""


def test_card_that_did_not_seal_is_refused(presenter: UnlockPresenter, port: FakeUnlockPort) -> None:
    card_in(presenter, port, FakeCard(serial="00000000000000C3"))  # this terminal's, re-issued later
    assert presenter.phase is Phase.CARD_REFUSED and presenter.state.error_code == "card_mismatch"
    assert "封印に使ったカード" in presenter.state.message


def test_locked_card_is_refused_on_insertion(presenter: UnlockPresenter, port: FakeUnlockPort,
                                             card: FakeCard) -> None:
    card_in(presenter, port, replace(card, tries_left=0))
    assert presenter.phase is Phase.CARD_REFUSED and presenter.state.error_code == "card_locked"
    assert presenter.state.message.startswith("× 登録カードはロックされています")


def test_third_wrong_card_pin_locks_and_says_so(presenter: UnlockPresenter, port: FakeUnlockPort,
                                                card: FakeCard) -> None:
    p = presenter
    card_in(p, port, card)
    type_pin(p, "111111")
    type_pin(p, "111111")
    assert "あと 1 回" in p.state.message and p.phase is Phase.CARD_PIN
    type_pin(p, "111111")
    assert p.phase is Phase.CARD_REFUSED and p.state.error_code == "card_locked" and card.tries_left == 0
    assert "このカードでは開設できません" in p.state.message
    assert not type_pin(p, CARD_PIN) and not port.opened


def test_no_pcsc_service_is_said(presenter: UnlockPresenter, port: FakeUnlockPort, card: FakeCard) -> None:
    p = presenter
    card_in(p, port, card)
    port.service_down = True
    p.poll()
    assert p.phase is Phase.NO_READER and "pcscd" in p.state.message and p.state.readers == ()
    assert p.state.prompt == "カードリーダーをつないでください"
    port.service_down = False
    p.poll()
    assert p.phase is Phase.CARD_PIN  # the card is still in: read again, its PIN asked again


def test_reader_error_on_a_fresh_card_is_retried_then_said(port: FakeUnlockPort, card: FakeCard) -> None:
    from ground.errors import MeiboError

    p = UnlockPresenter(port, "X", card_port=port, read_retries=2)
    fails = [0]
    real_check = port.check_card

    def flaky(reader: str) -> object:
        if fails[0] > 0:
            fails[0] -= 1
            raise MeiboError("カードとの通信に失敗しました: Transaction failed.", code="transmit_failed")
        return real_check(reader)

    port.check_card = flaky  # type: ignore[method-assign, assignment]
    fails[0] = 2
    card_in(p, port, card)
    assert p.phase is Phase.WAIT_CARD and p.state.message == ""  # quietly read again at the next poll
    p.poll()
    p.poll()
    assert p.phase is Phase.CARD_PIN
    port.remove()
    p.poll()
    fails[0] = 5
    port.insert(card)
    for _ in range(3):
        p.poll()
    assert p.phase is Phase.CARD_REFUSED and p.state.error_code == "transmit_failed"
    assert "Transaction failed" in p.state.message
