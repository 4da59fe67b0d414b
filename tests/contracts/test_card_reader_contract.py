"""One suite, two readers: the in-process fake and the real stack (pyscard → pcscd → vpcd → our
virtual card over TCP). Whatever the fake promises, PC/SC must do too, and the other way round.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hardware.cardreader.base import CardAbsent, CardReader, CardRemoved, NoReader
from hardware.cardreader.fake import FakeCard, FakeCardReader
from provisioning.applet import AID, ATR, Applet, CardState, Lifecycle, blank_card, verify_card_signature
from provisioning.card_client import CardClient, Personalisation, WrongPin
from tests.pcsc_fixtures import PcscdService, issued_state, pcscd_service  # noqa: F401

SELECT = b"\x00\xA4\x04\x00\x07" + AID + b"\x00"
PERSO = Personalisation("yokohama-2027", "10.0.0.1:8443", bytes(range(32)), "T01", "E01")
PIN = "246810"
WAIT = 5.0


@dataclass
class Rig:
    reader: CardReader
    name: str  # the slot our cards go into
    empty: str  # another reader that stays empty
    make: Any  # CardState -> card with insert()/remove()/pull_on()/applet
    made: list[Any] = field(default_factory=list)

    def card(self, state: CardState) -> Any:
        c = self.make(state)
        self.made.append(c)
        return c

    def insert(self, state: CardState) -> Any:
        c = self.card(state)
        c.insert()
        assert self.reader.wait_for_card(self.name, WAIT)
        return c


def _fake_rig() -> Rig:
    r = FakeCardReader()
    r.plug("Fake Reader 0")
    r.plug("Fake Reader 1")

    def make(state: CardState) -> FakeCard:
        rnd = random.Random(3).randbytes
        return FakeCard(r, "Fake Reader 0", Applet(state, rnd))
    return Rig(r, "Fake Reader 0", "Fake Reader 1", make)


@pytest.fixture(params=["fake", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    if request.param == "fake":
        rig = _fake_rig()
    else:
        svc: PcscdService = request.getfixturevalue("pcscd_service")
        from hardware.cardreader.pcsc import PcscCardReader
        reader = PcscCardReader()
        rig = Rig(reader, svc.reader_name(0), svc.reader_name(1), lambda st: svc.card(st, slot=0, seed=3))
    try:
        yield rig
    finally:
        for c in rig.made:
            c.remove()
        rig.reader.wait_for_removal(rig.name, WAIT)


def blank() -> CardState:
    return blank_card(random.Random(5).randbytes)


def test_lists_both_readers(rig: Rig) -> None:
    names = rig.reader.readers()
    assert rig.name in names and rig.empty in names


def test_unknown_reader_is_no_reader(rig: Rig) -> None:
    with pytest.raises(NoReader):
        rig.reader.card_present("No Such Reader 99")
    with pytest.raises(NoReader):
        rig.reader.connect("No Such Reader 99")


def test_empty_reader_is_card_absent(rig: Rig) -> None:
    assert rig.reader.card_present(rig.empty) is False
    assert rig.reader.wait_for_card(rig.empty, 0.3) is False
    with pytest.raises(CardAbsent):
        rig.reader.connect(rig.empty)


def test_inserted_card_answers_select_with_serial_and_lifecycle(rig: Rig) -> None:
    state = blank()
    rig.insert(state)
    assert rig.reader.card_present(rig.name)
    with rig.reader.connect(rig.name) as ch:
        assert ch.atr == ATR
        resp = ch.transmit(SELECT)
    assert resp == b"\xC0\x08" + state.serial + b"\xC1\x01\x01" + b"\x90\x00"


def test_removed_card_is_noticed_and_exchange_raises_card_removed(rig: Rig) -> None:
    card = rig.insert(blank())
    ch = rig.reader.connect(rig.name)
    assert ch.transmit(SELECT)[-2:] == b"\x90\x00"
    card.remove()
    assert rig.reader.wait_for_removal(rig.name, WAIT)
    with pytest.raises(CardRemoved):
        ch.transmit(SELECT)
    ch.close()
    with pytest.raises(CardAbsent):
        rig.reader.connect(rig.name)


def test_card_pulled_mid_exchange_before_it_ran_the_command(rig: Rig) -> None:
    card = rig.insert(blank())
    with rig.reader.connect(rig.name) as ch:
        client = CardClient(ch)
        client.select()
        card.pull_on(0xDA)  # PUT DATA
        with pytest.raises(CardRemoved):
            client.personalise(PERSO, PIN)
    assert card.applet.state.data == ()  # the first PUT DATA never ran
    assert card.applet.state.lifecycle is Lifecycle.PERSONALISING


def test_card_pulled_after_mark_used_ran_keeps_the_count(rig: Rig) -> None:
    state, pub = issued_state(PERSO, PIN)
    card = rig.insert(state)
    with rig.reader.connect(rig.name) as ch:
        client = CardClient(ch)
        client.select()
        client.verify_pin(PIN)
        card.pull_on(0xE2, after_processing=True)  # MARK USED ran; the answer is lost
        with pytest.raises(CardRemoved):
            client.mark_used()
    assert card.applet.state.use_counter == 1
    card.insert()
    assert rig.reader.wait_for_card(rig.name, WAIT)
    with rig.reader.connect(rig.name) as ch:
        client = CardClient(ch)
        client.select()
        assert client.read_enrollment_data().used


def test_full_enrollment_exchange_and_a_new_session_forgets_the_pin(rig: Rig) -> None:
    rig.insert(blank())
    with rig.reader.connect(rig.name) as ch:
        client = CardClient(ch)
        pub = client.personalise(PERSO, PIN)
    with rig.reader.connect(rig.name) as ch:
        client = CardClient(ch)
        info = client.select()
        assert info.lifecycle is Lifecycle.ISSUED
        data = client.check_usable("yokohama-2027")
        assert (data.terminal_id, data.station_id, data.public_key) == ("T01", "E01", pub)
        with pytest.raises(WrongPin) as e:
            client.verify_pin("000000")
        assert e.value.tries_left == 2
        client.verify_pin(PIN)
        assert client.pin_tries_left() == 3
        challenge = b"hq-challenge-" + bytes(range(20))
        sig = client.internal_authenticate(challenge)
        assert verify_card_signature(pub, info.serial, challenge, sig)
    with rig.reader.connect(rig.name) as ch:  # a new session: PIN must be verified again
        resp = ch.transmit(SELECT)
        assert resp[-2:] == b"\x90\x00"
        assert ch.transmit(b"\x00\x88\x00\x00\x10" + bytes(16) + b"\x00") == b"\x69\x82"
