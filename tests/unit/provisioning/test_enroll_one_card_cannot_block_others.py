"""HQ's enrollment sessions against one card (or one address) asking for them over and over
(issue 16): a card's serial is readable without its PIN, so /hello must not let it fill the
session table. One waiting session per card, a short life until /prove, a cap per address.
Fake readers, real TLS, one event loop; time is the service's injected monotonic clock."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ground.clock import FixedClock
from hq.terminals import hq_init
from appliance.dirs import HqDir
from ground.errors import MeiboError
from hq.roll import import_roll, publish
from appliance.synth import SynthSettings, write_roll_file
from hardware.cardreader.fake import FakeCard, FakeCardReader
from provisioning import cards, pki
from provisioning.applet import Applet
from provisioning.card_client import CardClient, Personalisation
from provisioning.enroll import Challenge, Hello, Proof, challenge_for, make_csr
from provisioning.enroll_client import EnrollSettings, _Hq, enroll
from hq.enroll_server import EnrollServerSettings, EnrollService, RunningEndpoint, serve_enrollment
from tests.builders import EARLY_NOON, election_toml
from tests.pcsc_fixtures import issued_state

CLOCK = FixedClock(EARLY_NOON)
PIN = "1357"
ELECTION = "yokohama-2027"


@pytest.fixture
def hq(tmp_path: Path) -> HqDir:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq = HqDir(tmp_path / "hq")
    hq_init(hq.root, cfg, CLOCK)
    csv = tmp_path / "roll.csv"
    write_roll_file(SynthSettings(voters=30, seed=2), csv)
    import_roll(hq, csv, CLOCK)
    publish(hq, None, CLOCK, full=True)
    return hq


@dataclass
class Card:
    reader: FakeCardReader
    card: FakeCard
    terminal: str

    @property
    def serial(self) -> bytes:
        return self.card.applet.state.serial

    def hello(self) -> Hello:
        return Hello(ELECTION, self.serial, self.terminal, "E01", False)

    def sign(self, chal: Challenge, csr: bytes, dev: bytes) -> bytes:
        with self.reader.connect("r") as ch:
            c = CardClient(ch)
            c.select()
            c.verify_pin(PIN)
            return c.internal_authenticate(challenge_for(ELECTION, self.serial, chal.session, chal.nonce, csr, dev,
                                                         False))


def issue_card(hq: HqDir, terminal: str, seed: int) -> Card:
    cfg = hq.config()
    state, pub = issued_state(Personalisation(cfg.election_id, cfg.hq_address, pki.ca_fingerprint(hq.pki),
                                              terminal, "E01"), PIN, seed=seed)
    cards.record_issued(hq.root, cards.CardRecord(
        serial=state.serial.hex().upper(), election_id=cfg.election_id, terminal_id=terminal,  # type: ignore[arg-type]
        station_id="E01", public_key=pub.hex(), issued_at=CLOCK.now().isoformat()))  # type: ignore[arg-type]
    reader = FakeCardReader()
    reader.plug("r")
    card = FakeCard(reader, "r", Applet(state, random.Random(seed).randbytes))
    card.insert()
    return Card(reader, card, terminal)


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def now() -> Monotonic:
    return Monotonic()


async def started(hq: HqDir, now: Monotonic, **settings: Any) -> tuple[EnrollService, RunningEndpoint]:
    service = EnrollService(hq, CLOCK, settings=EnrollServerSettings(**settings), monotonic=now)
    return service, await serve_enrollment(service, "127.0.0.1", 0)


async def linked(ep: RunningEndpoint) -> _Hq:
    link = _Hq(f"127.0.0.1:{ep.port}", EnrollSettings())
    await link.open()
    info = await link.ca()
    link.pin(info.ca_pem, info.election_id)
    return link


@pytest.fixture
def keys() -> tuple[bytes, bytes]:
    key_pem, _ = pki.new_device_key()
    return make_csr(key_pem, "T01"), b"\x07" * 32


async def test_second_card_enrolls_while_one_card_floods_hello(hq: HqDir, now: Monotonic, tmp_path: Path) -> None:
    flooder, other = issue_card(hq, "T01", 11), issue_card(hq, "T02", 12)
    service, ep = await started(hq, now, max_sessions=4)
    link = await linked(ep)
    try:
        for _ in range(30):  # the serial alone, no PIN: anyone holding the card can do this
            await link.post("/enroll/v1/hello", flooder.hello().to_json())
        assert [s.hello.card_serial for s in service.sessions.values()] == [flooder.serial]
        await enroll(tmp_path / "T02", other.reader, "r", lambda t: PIN, CLOCK, hq=f"127.0.0.1:{ep.port}",
                     settings=EnrollSettings(connect_timeout_s=2))
    finally:
        await link.close()
        await ep.stop()
    assert service.enrolled == ["T02"] and (tmp_path / "T02").is_dir()


async def test_new_hello_from_same_card_replaces_its_waiting_session(hq: HqDir, now: Monotonic,
                                                                     keys: tuple[bytes, bytes]) -> None:
    card = issue_card(hq, "T01", 11)
    csr, dev = keys
    service, ep = await started(hq, now)
    link = await linked(ep)
    try:
        first = Challenge.parse(await link.post("/enroll/v1/hello", card.hello().to_json()))
        second = Challenge.parse(await link.post("/enroll/v1/hello", card.hello().to_json()))
        assert list(service.sessions) == [second.session]
        with pytest.raises(MeiboError) as ei:  # the replaced session is gone, even with the right proof
            await link.post("/enroll/v1/prove", Proof(first.session, csr, dev, card.sign(first, csr, dev)).to_json())
        assert ei.value.code == "session_unknown" and "最初からやり直して" in ei.value.message
        await link.post("/enroll/v1/prove", Proof(second.session, csr, dev, card.sign(second, csr, dev)).to_json())
        # A stranger who read the serial cannot end a proven session (that took the PIN).
        await link.post("/enroll/v1/hello", card.hello().to_json())
        await link.post("/enroll/v1/commit", {"session": second.session.hex()})
    finally:
        await link.close()
        await ep.stop()
    assert service.enrolled == ["T01"]


async def test_session_not_proven_within_challenge_ttl_expires_and_frees_its_slot(
        hq: HqDir, now: Monotonic, keys: tuple[bytes, bytes]) -> None:
    a, b = issue_card(hq, "T01", 11), issue_card(hq, "T02", 12)
    csr, dev = keys
    service, ep = await started(hq, now, challenge_ttl_s=30.0, session_ttl_s=600.0, max_sessions=1)
    link = await linked(ep)
    try:
        late = Challenge.parse(await link.post("/enroll/v1/hello", a.hello().to_json()))
        with pytest.raises(MeiboError) as ei:  # the table is full while a's session waits
            await link.post("/enroll/v1/hello", b.hello().to_json())
        assert ei.value.code == "busy"
        now.t += 31.0
        with pytest.raises(MeiboError) as ei:
            await link.post("/enroll/v1/prove", Proof(late.session, csr, dev, a.sign(late, csr, dev)).to_json())
        assert ei.value.code == "session_unknown" and "時間切れ" in ei.value.message
        # The slot is free again; a session proven in time lives on to session_ttl_s.
        chal = Challenge.parse(await link.post("/enroll/v1/hello", b.hello().to_json()))
        now.t += 29.0
        await link.post("/enroll/v1/prove", Proof(chal.session, csr, dev, b.sign(chal, csr, dev)).to_json())
        now.t += 500.0
        await link.post("/enroll/v1/commit", {"session": chal.session.hex()})
    finally:
        await link.close()
        await ep.stop()
    assert service.enrolled == ["T02"]


async def test_one_address_holds_at_most_max_sessions_per_source(hq: HqDir, now: Monotonic) -> None:
    a, b, c = issue_card(hq, "T01", 11), issue_card(hq, "T02", 12), issue_card(hq, "T03", 13)
    service, ep = await started(hq, now, max_sessions_per_source=2, max_sessions=32)
    link = await linked(ep)
    try:
        first = Challenge.parse(await link.post("/enroll/v1/hello", a.hello().to_json()))
        await link.post("/enroll/v1/hello", b.hello().to_json())
        with pytest.raises(MeiboError) as ei:
            await link.post("/enroll/v1/hello", c.hello().to_json())
        assert ei.value.code == "too_many_from_source" and "接続元" in ei.value.message
        assert len(service.sessions) == 2
        await link.post("/enroll/v1/hello", a.hello().to_json())  # a's own new hello replaces, counts once
        again = Challenge.parse(await link.post("/enroll/v1/hello", a.hello().to_json()))
        assert first.session not in service.sessions
        await link.post("/enroll/v1/abort", {"session": again.session.hex()})
        await link.post("/enroll/v1/hello", c.hello().to_json())  # a finished: its slot is c's
    finally:
        await link.close()
        await ep.stop()
    assert sorted(s.hello.terminal for s in service.sessions.values()) == ["T02", "T03"]
