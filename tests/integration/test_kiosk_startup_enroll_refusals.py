"""The enrollment screen's presenter over the REAL port (pyscard → pcscd → vpcd → the virtual card;
real TLS to HQ's enrollment endpoint): each refusal the brief names ends on a plain Japanese line
with its stable code, and TDIR, HQ's registry and the card are as they were. No window: the screen
only copies these states (the rendered path is test_kiosk_startup_enroll_to_green.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ground.clock import FixedClock
from hardware.cardreader.pcsc import PcscCardReader
from provisioning import cards, pki
from provisioning.card_client import Personalisation
from provisioning.enroll_client import EnrollSettings
from tests.builders import EARLY_NOON
from tests.integration.test_enroll_over_pcsc import ThreadEndpoint, make_hq
from tests.pcsc_fixtures import READER_SLOT0, PcscdService, issued_state, pcscd_service  # noqa: F401
from ui_kivy.presenters.enroll import CardEnrollPort, EnrollPresenter, Phase

pytestmark = [pytest.mark.pcsc, pytest.mark.timeout(60)]
PIN = "246810"
CLOCK = FixedClock(EARLY_NOON)
FAST = EnrollSettings(connect_timeout_s=2.0, request_timeout_s=10.0, abort_timeout_s=1.0)


class World:
    def __init__(self, tmp: Path, svc: PcscdService) -> None:
        self.tmp = tmp
        self.svc = svc
        self.hq = make_hq(tmp / "hq")
        self.endpoint = ThreadEndpoint(self.hq)
        self.reader = PcscCardReader()
        self.card: Any = None
        self.tdir = tmp / "T01"

    def insert(self, *, election: str | None = None, fingerprint: bytes | None = None, used: bool = False) -> Any:
        cfg = self.hq.config()
        perso = Personalisation(election or cfg.election_id, cfg.hq_address,
                                fingerprint or pki.ca_fingerprint(self.hq.pki), "T01", "E01")
        state, pub = issued_state(perso, PIN)
        cards.record_issued(self.hq.root, cards.CardRecord(
            serial=state.serial.hex().upper(), election_id=perso.election_id, terminal_id="T01",  # type: ignore[arg-type]
            station_id="E01", public_key=pub.hex(), issued_at=CLOCK.now().isoformat()))  # type: ignore[arg-type]
        if used:
            state = replace(state, use_counter=1)
        self.card = self.svc.card(state, slot=0, state_path=self.tmp / "card.json")
        self.card.insert()
        assert self.reader.wait_for_card(READER_SLOT0, 5.0)
        return self.card

    def snapshot(self) -> tuple[bytes, list[dict[str, Any]]]:
        return ((self.hq.root / "terminals.json").read_bytes(),
                [c.to_json() for c in cards.load_cards(self.hq.root)])

    def close(self) -> None:  # the card: pulled by the pcscd_service fixture
        self.endpoint.stop()
        self.reader.close()


@pytest.fixture
def world(tmp_path: Path, pcscd_service: PcscdService) -> Iterator[World]:
    w = World(tmp_path, pcscd_service)
    try:
        yield w
    finally:
        w.close()


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


async def drive(p: EnrollPresenter) -> None:
    """Card in (already), card PIN, 投票管理者 PIN twice, as the pad would."""
    p.poll()
    p.poll()
    if p.phase is not Phase.CARD_PIN:
        return
    for pin in (PIN, "2468", "2468"):
        for d in pin:
            p.digit(d)
        await p.submit()


@pytest.mark.parametrize("case, code, words", [
    ("other_election", "card_other_election", "別の選挙のカードです"),
    ("used", "card_already_used", "このカードは使用済みです"),
    ("unreachable", "hq_unreachable", "本部の登録窓口に接続できません"),
    ("not_trusted", "hq_not_trusted", "選挙 CA と一致しません"),
])
async def test_refusal_is_plain_and_changes_nothing(world: World, case: str, code: str, words: str) -> None:
    card = world.insert(election="kawasaki-2027" if case == "other_election" else None,
                        fingerprint=b"\x01" * 32 if case == "not_trusted" else None, used=case == "used")
    before_hq = world.snapshot()  # the card's own record is HQ's issue, before the attempt
    hq = closed_port() if case == "unreachable" else world.endpoint.address
    port = CardEnrollPort(world.tdir, world.reader, CLOCK, hq=hq, settings=FAST)
    p = EnrollPresenter(port)
    await drive(p)
    assert p.phase is Phase.FAILED, (p.phase, p.state.message)
    assert p.state.error_code == code and words in p.state.message, p.state.message
    assert p.state.message.startswith("× ")
    assert not world.tdir.exists()
    assert not [x for x in world.tmp.iterdir() if x.name.startswith(".T01.")], "staging left behind"
    assert world.snapshot() == before_hq
    assert card.state.use_counter == (1 if case == "used" else 0)
