"""A card pulled at any point before the store is open returns the unlock screen to the card step
with a message and changes nothing: no supervisor-PIN try counted, nothing opened, the card PIN
forgotten (asked again with the card)."""

from __future__ import annotations

from tests.unit.ui_kivy.unlock.conftest import CARD_PIN, SUPERVISOR, Opened, card_in, type_pin
from tests.unit.ui_kivy.unlock.fake_port import FakeCard, FakeUnlockPort
from ui_kivy.presenters.unlock import PULLED, Phase, UnlockPresenter


def test_pulled_while_typing_the_card_pin(presenter: UnlockPresenter, port: FakeUnlockPort, card: FakeCard) -> None:
    p = presenter
    card_in(p, port, card)
    for d in "246":
        p.digit(d)
    port.remove()
    p.poll()
    assert p.phase is Phase.WAIT_CARD and p.state.message == PULLED and p.state.digits == 0
    assert p.state.card is None and p.state.reader is None and p.state.level == "info"
    port.insert(card)
    p.poll()
    for d in "810":
        p.digit(d)
    assert not p.submit() and p.phase is Phase.CARD_PIN  # the first digits were dropped with the card
    assert p.state.error_code == "pin_invalid" and card.tries_left == 3  # too short: never sent to the card


def test_pulled_at_the_supervisor_pin(presenter: UnlockPresenter, port: FakeUnlockPort, card: FakeCard,
                                      opened: Opened) -> None:
    p = presenter
    card_in(p, port, card)
    type_pin(p, CARD_PIN)
    assert p.phase is Phase.SUPERVISOR_PIN
    for d in SUPERVISOR:
        p.digit(d)
    port.remove()
    p.poll()
    assert p.phase is Phase.WAIT_CARD and p.state.message == PULLED
    assert not port.opened and port.failures == 0 and opened.count == 0
    assert "unlock_with_card" not in port.calls
    port.insert(card)
    p.poll()
    assert p.phase is Phase.CARD_PIN  # the card PIN again: it was forgotten with the card


def test_pulled_during_the_unlock_exchange(presenter: UnlockPresenter, port: FakeUnlockPort, card: FakeCard,
                                           opened: Opened) -> None:
    p = presenter
    card_in(p, port, card)
    type_pin(p, CARD_PIN)
    port.pull_during_unlock()
    assert not type_pin(p, SUPERVISOR)
    assert p.phase is Phase.WAIT_CARD and p.state.message == PULLED and p.state.error_code == "card_removed"
    assert not port.opened and port.failures == 0 and opened.count == 0
    card_in(p, port, card)
    type_pin(p, CARD_PIN)
    assert type_pin(p, SUPERVISOR) and port.opened and opened.count == 1
