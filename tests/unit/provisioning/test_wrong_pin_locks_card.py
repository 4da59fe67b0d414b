"""VERIFY: 63Cx counts down, the third wrong PIN locks the card for good, a right PIN restores tries."""

from __future__ import annotations

import random

import pytest

from hardware.cardreader.fake import FakeCard, FakeCardReader
from provisioning.applet import Applet
from provisioning.card_client import (CardClient, CardLocked, Personalisation, PinInvalid, WrongPin)
from tests.pcsc_fixtures import issued_state

PERSO = Personalisation("yokohama-2027", "10.0.0.1:8443", bytes(32), "T01", "E01")


@pytest.fixture
def client() -> tuple[CardClient, FakeCard]:
    state, _ = issued_state(PERSO, "246810")
    r = FakeCardReader()
    r.plug("R")
    card = FakeCard(r, "R", Applet(state, random.Random(1).randbytes))
    card.insert()
    c = CardClient(r.connect("R"))
    c.select()
    return c, card


def test_wrong_pins_count_down_then_lock(client: tuple[CardClient, FakeCard]) -> None:
    c, card = client
    assert c.pin_tries_left() == 3
    for left in (2, 1):
        with pytest.raises(WrongPin) as e:
            c.verify_pin("111111")
        assert e.value.tries_left == left
        assert "あと" in e.value.message
        assert card.applet.state.pin_tries == left
    with pytest.raises(CardLocked):
        c.verify_pin("111111")
    with pytest.raises(CardLocked):
        c.verify_pin("246810")  # even the right PIN: locked for good
    assert c.pin_tries_left() == 0
    with pytest.raises(CardLocked):
        c.internal_authenticate(bytes(16))


def test_right_pin_restores_the_tries(client: tuple[CardClient, FakeCard]) -> None:
    c, card = client
    with pytest.raises(WrongPin):
        c.verify_pin("111111")
    c.verify_pin("246810")
    assert card.applet.state.pin_tries == 3


def test_malformed_pin_is_not_sent_and_costs_no_try(client: tuple[CardClient, FakeCard]) -> None:
    c, card = client
    for bad in ("12", "12ab56", "１２３４５６", "1234567890123"):
        with pytest.raises(PinInvalid):
            c.verify_pin(bad)
    assert card.applet.state.pin_tries == 3


def test_lock_survives_power_cycle(client: tuple[CardClient, FakeCard]) -> None:
    c, card = client
    for _ in range(3):
        with pytest.raises((WrongPin, CardLocked)):
            c.verify_pin("000000")
    card.remove()
    card.insert()
    c2 = CardClient(card.reader.connect("R"))
    c2.select()
    with pytest.raises(CardLocked):
        c2.verify_pin("246810")
