"""DERIVE AT-REST KEY on the card: only after the PIN, still after the card was used for
enrollment, the same answer for the same card and challenge, another card answers otherwise, and
the card's private seed is never in an answer."""

from __future__ import annotations

import random

from hardware.cardreader.fake import FakeCard, FakeCardReader
from provisioning.applet import Applet, CardState, atrest_answer, blank_card
from provisioning.card_client import CardClient, CardError, Personalisation
import pytest

READER = "Fake Reader 0"
CHALLENGE = bytes(range(32))


def issued_card(seed: int, reader: FakeCardReader, slot: str = READER) -> tuple[FakeCard, CardClient]:
    rnd = random.Random(seed).randbytes
    reader.plug(slot)
    card = FakeCard(reader, slot, Applet(blank_card(rnd), rnd))
    card.insert()
    ch = reader.connect(slot)
    client = CardClient(ch)
    client.personalise(Personalisation("e1", "10.0.0.1:8443", bytes(32), "T01", "E01"), "1357")
    client.select()
    return card, client


def test_needs_the_pin_then_answers_the_same_for_the_same_challenge() -> None:
    card, client = issued_card(1, FakeCardReader())
    with pytest.raises(CardError) as e:
        client.derive_atrest_key(CHALLENGE)
    assert e.value.code == "pin_not_verified"
    client.verify_pin("1357")
    a1 = client.derive_atrest_key(CHALLENGE)
    assert len(a1) == 32 and client.derive_atrest_key(CHALLENGE) == a1
    assert client.derive_atrest_key(bytes(32)) != a1
    st: CardState = card.applet.state
    assert st.key_seed is not None and a1 == atrest_answer(st.key_seed, st.serial, CHALLENGE)
    assert st.key_seed not in a1


def test_still_answers_after_enrollment_used_the_card() -> None:
    _, client = issued_card(2, FakeCardReader())
    client.verify_pin("1357")
    before = client.derive_atrest_key(CHALLENGE)
    assert client.mark_used() == 1
    assert client.derive_atrest_key(CHALLENGE) == before


def test_another_card_answers_otherwise_and_short_challenges_are_refused() -> None:
    reader = FakeCardReader()
    _, a = issued_card(3, reader, "A")
    _, b = issued_card(4, reader, "B")
    a.verify_pin("1357")
    b.verify_pin("1357")
    assert a.derive_atrest_key(CHALLENGE) != b.derive_atrest_key(CHALLENGE)
    with pytest.raises(CardError):
        a.derive_atrest_key(bytes(16))
