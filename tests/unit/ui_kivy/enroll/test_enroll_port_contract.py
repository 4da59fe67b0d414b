"""One contract for the enroll port, run against the fake (unit tests) and the real one
(``CardEnrollPort``: pyscard → a private pcscd → vpcd → the project's virtual card; real TLS to HQ's
enrollment endpoint; a real terminal directory). What the presenter relies on: readers and card
presence, the card read before any PIN, ``wrong_pin`` with the tries left, the enroll states
reported in order, an unreachable HQ as ``hq_unreachable``, and TDIR untouched by every failure."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from ground.errors import HqUnreachable, MeiboError
from provisioning.card_client import WrongPin
from provisioning.enroll import TState
from tests.pcsc_fixtures import pcscd_service  # noqa: F401  (the real PC/SC stack, session-wide)
from tests.unit.ui_kivy.enroll.fake_port import FakeCard, FakeEnrollPort
from ui_kivy.presenters.enroll import STEPS, EnrollPort

PIN = "246810"
SUPERVISOR = "2468"


class Harness(Protocol):
    tdir: Path
    reader: str
    port: EnrollPort

    def insert(self) -> None: ...

    def remove(self) -> None: ...

    def unreachable(self) -> EnrollPort: ...

    def card_uses(self) -> int: ...


class FakeHarness:
    reader = "Virtual PCD 00 00"

    def __init__(self, tmp: Path) -> None:
        self.tdir = tmp / "T01"
        self.fake = FakeEnrollPort(self.tdir)
        self.port = self.fake
        self.card = FakeCard(pin=PIN, hq_address="127.0.0.1:8444")

    def insert(self) -> None:
        self.fake.insert(self.card)

    def remove(self) -> None:
        self.fake.remove()

    def unreachable(self) -> EnrollPort:
        other = FakeEnrollPort(self.tdir)
        other.slots = self.fake.slots  # the same reader and card, another (unreachable) HQ
        other.hq_down()
        return other

    def card_uses(self) -> int:
        return int(self.card.used)


class RealHarness:
    def __init__(self, tmp: Path, svc: Any) -> None:
        from ground.clock import FixedClock
        from hardware.cardreader.pcsc import PcscCardReader
        from provisioning import cards, pki
        from provisioning.card_client import Personalisation
        from provisioning.enroll_client import EnrollSettings
        from tests.builders import EARLY_NOON
        from tests.integration.test_enroll_over_pcsc import ThreadEndpoint, make_hq
        from tests.pcsc_fixtures import READER_SLOT0, issued_state
        from ui_kivy.presenters.enroll import CardEnrollPort

        self.clock = FixedClock(EARLY_NOON)
        self.settings = EnrollSettings(connect_timeout_s=2.0, request_timeout_s=10.0, abort_timeout_s=1.0)
        self.reader = READER_SLOT0
        self.tdir = tmp / "T01"
        self.hq = make_hq(tmp / "hq")
        self.endpoint = ThreadEndpoint(self.hq)
        cfg = self.hq.config()
        perso = Personalisation(cfg.election_id, cfg.hq_address, pki.ca_fingerprint(self.hq.pki), "T01", "E01")
        state, pub = issued_state(perso, PIN)
        cards.record_issued(self.hq.root, cards.CardRecord(
            serial=state.serial.hex().upper(), election_id=cfg.election_id, terminal_id="T01",  # type: ignore[arg-type]
            station_id="E01", public_key=pub.hex(), issued_at=self.clock.now().isoformat()))  # type: ignore[arg-type]
        self.card = svc.card(state, slot=0, state_path=tmp / "card.json")
        self.pcsc = PcscCardReader()
        self.port = CardEnrollPort(self.tdir, self.pcsc, self.clock, hq=self.endpoint.address, settings=self.settings)

    def insert(self) -> None:
        self.card.insert()
        assert self.pcsc.wait_for_card(self.reader, 5.0)

    def remove(self) -> None:
        if self.card.inserted:
            self.card.remove()
            self.pcsc.wait_for_removal(self.reader, 5.0)

    def unreachable(self) -> EnrollPort:
        from ui_kivy.presenters.enroll import CardEnrollPort

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        return CardEnrollPort(self.tdir, self.pcsc, self.clock, hq=f"127.0.0.1:{closed}", settings=self.settings)

    def card_uses(self) -> int:
        return int(self.card.state.use_counter)

    def close(self) -> None:  # the card: pulled by the pcscd_service fixture
        self.endpoint.stop()
        self.pcsc.close()


@pytest.fixture(params=["fake", pytest.param("real", marks=pytest.mark.pcsc)])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "fake":
        yield FakeHarness(tmp_path)
        return
    svc = request.getfixturevalue("pcscd_service")
    h = RealHarness(tmp_path, svc)
    try:
        yield h
    finally:
        h.close()


def untouched(h: Harness) -> None:
    assert not h.tdir.exists()
    assert not [p for p in h.tdir.parent.iterdir() if p.name.startswith(f".{h.tdir.name}.")], "staging left"


async def test_port_contract(harness: Harness) -> None:
    h = harness
    port = h.port
    assert h.reader in port.readers()
    assert not port.card_present(h.reader)
    h.insert()
    assert port.card_present(h.reader)

    card = port.read_card(h.reader)
    assert (card.terminal, card.station, card.used, card.tries_left) == ("T01", "E01", False, 3)
    assert card.election_id == "yokohama-2027" and len(card.serial) == 16 and ":" in card.hq_address

    steps: list[TState] = []
    with pytest.raises(MeiboError) as ei:
        await port.enroll(h.reader, "999999", SUPERVISOR, replace=False, on_step=lambda s, d: steps.append(s))
    assert ei.value.code == "wrong_pin" and ei.value.details["tries_left"] == 2
    assert isinstance(ei.value, WrongPin)  # the presenter catches the class
    assert TState.PIN_VERIFIED not in steps
    untouched(h)
    assert port.read_card(h.reader).tries_left == 2

    with pytest.raises(MeiboError) as ei:
        await h.unreachable().enroll(h.reader, PIN, SUPERVISOR, replace=False, on_step=lambda s, d: None)
    assert ei.value.code == "hq_unreachable" and isinstance(ei.value, HqUnreachable)
    untouched(h)
    assert h.card_uses() == 0

    steps.clear()
    details: list[str] = []
    port = h.port
    done = await port.enroll(h.reader, PIN, SUPERVISOR, replace=False,
                             on_step=lambda s, d: (steps.append(s), details.append(d)))
    assert (done.terminal, done.station, done.election_id, done.roll_version) == ("T01", "E01", "yokohama-2027", 1)
    assert done.station_name and done.replaced is None
    order = {s: i for i, (s, _) in enumerate(STEPS)}
    reached = sorted(set(steps), key=order.__getitem__)
    assert reached == [s for s, _ in STEPS[:-1]], reached  # every state up to CERTIFIED, in order
    assert [order[s] for s in steps] == sorted(order[s] for s in steps)
    # the roll's download is shown as PROVEN's detail (whatever its wording: it is never parsed)
    assert any(s is TState.PROVEN and d for s, d in zip(steps, details))
    assert h.tdir.exists() and h.card_uses() == 1
    assert port.read_card(h.reader).used
    h.remove()
    assert not port.card_present(h.reader)
