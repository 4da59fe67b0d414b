"""The use counter: a card enrolls one terminal once; other-election and blank cards are refused."""

from __future__ import annotations

import random

import pytest

from hardware.cardreader.fake import FakeCard, FakeCardReader
from provisioning.applet import Applet, CardState, blank_card, verify_card_signature
from provisioning.card_client import (CardAlreadyUsed, CardClient, CardNotBlank, CardNotIssued,
                                      CardOfOtherElection, NotOurCard, Personalisation)
from tests.pcsc_fixtures import issued_state

PERSO = Personalisation("yokohama-2027", "10.0.0.1:8443", bytes(range(32)), "T01", "E01")
PIN = "246810"


def connect(state: CardState) -> tuple[CardClient, FakeCard]:
    r = FakeCardReader()
    r.plug("R")
    card = FakeCard(r, "R", Applet(state, random.Random(1).randbytes))
    card.insert()
    c = CardClient(r.connect("R"))
    return c, card


def test_mark_used_counts_once_and_then_the_card_no_longer_signs() -> None:
    state, pub = issued_state(PERSO, PIN)
    c, card = connect(state)
    info = c.select()
    assert c.check_usable("yokohama-2027").use_counter == 0
    c.verify_pin(PIN)
    sig = c.internal_authenticate(b"x" * 32)
    assert verify_card_signature(pub, info.serial, b"x" * 32, sig)
    assert c.mark_used() == 1
    with pytest.raises(CardAlreadyUsed):
        c.mark_used()
    with pytest.raises(CardAlreadyUsed):
        c.internal_authenticate(b"x" * 32)
    with pytest.raises(CardAlreadyUsed):
        c.check_usable("yokohama-2027")
    assert card.applet.state.use_counter == 1


def test_signature_is_bound_to_context_serial_and_challenge() -> None:
    state, pub = issued_state(PERSO, PIN)
    c, _ = connect(state)
    info = c.select()
    c.verify_pin(PIN)
    sig = c.internal_authenticate(b"challenge-0123456789")
    assert verify_card_signature(pub, info.serial, b"challenge-0123456789", sig)
    assert not verify_card_signature(pub, info.serial, b"challenge-0123456788", sig)
    assert not verify_card_signature(pub, bytes(8), b"challenge-0123456789", sig)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.exceptions import InvalidSignature
    with pytest.raises(InvalidSignature):  # the bare challenge was not what the card signed
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, b"challenge-0123456789")


def test_card_of_another_election_is_refused() -> None:
    state, _ = issued_state(PERSO, PIN)
    c, _ = connect(state)
    c.select()
    with pytest.raises(CardOfOtherElection) as e:
        c.check_usable("osaka-2027")
    assert "別の選挙" in e.value.message


def test_blank_card_is_not_issued_and_issued_card_is_not_blank() -> None:
    c, _ = connect(blank_card(random.Random(2).randbytes))
    c.select()
    with pytest.raises(CardNotIssued):
        c.read_enrollment_data()
    state, _ = issued_state(PERSO, PIN)
    c2, card = connect(state)
    with pytest.raises(CardNotBlank):
        c2.personalise(PERSO, PIN)
    assert card.applet.state == state


def test_foreign_card_is_not_ours() -> None:
    class Foreign:
        atr = b""

        def transmit(self, apdu: bytes) -> bytes:
            return b"\x6A\x82"

        def close(self) -> None: ...

    with pytest.raises(NotOurCard):
        CardClient(Foreign()).select()  # type: ignore[arg-type]
