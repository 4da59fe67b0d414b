"""A card-sealed station (only the ``pin+card`` wrapping left): the unlock screen asks for the
enrolled card, then its PIN (masked; a wrong one says the card's tries left, checked on the card
before the supervisor PIN is asked), then the supervisor PIN as before; then the store opens."""

from __future__ import annotations

from tests.unit.ui_kivy.unlock.conftest import CARD_PIN, STATION, SUPERVISOR, Opened, card_in, type_pin
from tests.unit.ui_kivy.unlock.fake_port import READER, SERIAL, FakeCard, FakeUnlockPort
from ui_kivy.presenters.unlock import Phase, UnlockPresenter


def test_card_then_card_pin_then_supervisor_pin_opens(presenter: UnlockPresenter, port: FakeUnlockPort,
                                                      card: FakeCard, opened: Opened) -> None:
    p = presenter
    s = p.state
    assert s.card_mode and s.title == f"{STATION}: 投票所の開設（登録カードと管理者 PIN で端末の記録を開きます）"
    p.poll()
    assert p.phase is Phase.WAIT_CARD and p.state.prompt == "登録カードを差し込んでください"
    assert p.state.readers_text == f"カードリーダー: {READER}（空）、Virtual PCD 00 01（空）"
    assert not p.state.pad_enabled and p.state.masked == ""
    p.digit("1")
    assert p.state.digits == 0  # no pad while a card is awaited

    port.insert(card)
    p.poll()
    assert p.phase is Phase.CARD_PIN and p.state.prompt == "カードの暗証番号を入力してください"
    assert p.state.card_text == f"登録カード {SERIAL}" and p.state.submit_label == "次へ"
    assert p.state.masked == "（未入力）"
    for d in "999":
        p.digit(d)
    assert p.state.masked == "●●●"  # never the digits
    p.backspace()
    assert p.state.digits == 2
    for d in "9999":
        p.digit(d)
    assert not p.submit()
    assert p.phase is Phase.CARD_PIN and p.state.error_code == "wrong_pin"
    assert p.state.message == "× カードの暗証番号が違います（あと 2 回間違えるとカードがロックされます）"
    assert p.state.card is not None and p.state.card.tries_left == 2 and card.tries_left == 2

    assert not type_pin(p, CARD_PIN)
    assert p.phase is Phase.SUPERVISOR_PIN and card.tries_left == 3
    assert p.state.prompt == "投票管理者の PIN を入力してください（カードは差したまま）"
    assert p.state.masked == "（未入力）" and p.state.submit_label == "開く"
    assert port.calls == ["check_card", "verify_card_pin", "verify_card_pin"]

    assert not type_pin(p, "0000")
    assert p.state.message == "× PIN が違います（あと 9 回まで）" and p.phase is Phase.SUPERVISOR_PIN
    assert not port.opened and opened.count == 0
    assert type_pin(p, SUPERVISOR)
    assert p.state.unlocked and p.state.message == "✓ 開きました" and port.opened and opened.count == 1
    assert port.failures == 0
    p.digit("1")
    p.poll()
    assert p.state.digits == 0 and p.phase is Phase.UNLOCKED and p.submit()  # stays open; the pad is done


def test_empty_and_short_card_pins_cost_no_try(presenter: UnlockPresenter, port: FakeUnlockPort,
                                               card: FakeCard) -> None:
    p = presenter
    card_in(p, port, card)
    assert not p.submit()
    assert p.state.message == "× カードの暗証番号は 4〜12 桁です"
    assert not type_pin(p, "12")
    assert p.phase is Phase.CARD_PIN and p.state.error_code == "pin_invalid" and card.tries_left == 3
    assert "verify_card_pin" not in port.calls


def test_supervisor_pin_locked_stops_the_pad(port: FakeUnlockPort, card: FakeCard) -> None:
    port.max_tries = 2
    p = UnlockPresenter(port, STATION, card_port=port)
    card_in(p, port, card)
    type_pin(p, CARD_PIN)
    type_pin(p, "1111")
    assert p.state.message == "× PIN が違います（あと 1 回まで）"
    type_pin(p, "1111")
    assert p.state.locked and p.phase is Phase.LOCKED and "紙の名簿抄本" in p.state.message
    assert not p.state.pad_enabled
    assert not type_pin(p, SUPERVISOR) and not port.opened
    port.remove()
    p.poll()
    assert p.phase is Phase.LOCKED  # pulling the card changes nothing once locked
