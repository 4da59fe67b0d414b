"""HQ's endpoint against a forged card and a replayed card signature (fake reader, real TLS,
in one event loop): both refused with ``card_auth_failed``, and nothing changes anywhere."""

from __future__ import annotations

import json
import random
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
from hq.enroll_server import EnrollService, serve_enrollment
from tests.builders import EARLY_NOON, election_toml
from tests.pcsc_fixtures import issued_state

CLOCK = FixedClock(EARLY_NOON)
PIN = "1357"


@pytest.fixture
def hq(tmp_path: Path) -> HqDir:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(), "utf-8")
    hq = HqDir(tmp_path / "hq")
    hq_init(hq.root, cfg, CLOCK)
    csv = tmp_path / "roll.csv"
    write_roll_file(SynthSettings(voters=50, seed=2), csv)
    import_roll(hq, csv, CLOCK)
    publish(hq, None, CLOCK, full=True)
    return hq


def card_in_reader(hq: HqDir, recorded_pub: bytes | None = None) -> tuple[FakeCardReader, FakeCard]:
    cfg = hq.config()
    state, pub = issued_state(Personalisation(cfg.election_id, cfg.hq_address, pki.ca_fingerprint(hq.pki),
                                              "T01", "E01"), PIN, seed=11)
    cards.record_issued(hq.root, cards.CardRecord(
        serial=state.serial.hex().upper(), election_id=cfg.election_id, terminal_id="T01",  # type: ignore[arg-type]
        station_id="E01", public_key=(recorded_pub or pub).hex(), issued_at=CLOCK.now().isoformat()))  # type: ignore[arg-type]
    reader = FakeCardReader()
    reader.plug("r")
    card = FakeCard(reader, "r", Applet(state, random.Random(3).randbytes))
    card.insert()
    return reader, card


def snapshot(hq: HqDir) -> tuple[bytes, str]:
    return (hq.root / "terminals.json").read_bytes(), json.dumps([c.to_json() for c in cards.load_cards(hq.root)])


async def test_forged_card_is_refused_and_nothing_changes(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq, recorded_pub=b"\x42" * 32)  # HQ recorded another card's key
    ep = await serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", 0)
    before = snapshot(hq)
    try:
        with pytest.raises(MeiboError) as ei:
            await enroll(tmp_path / "T01", reader, "r", lambda t: PIN, CLOCK, hq=f"127.0.0.1:{ep.port}",
                         settings=EnrollSettings(connect_timeout_s=2))
    finally:
        await ep.stop()
    assert ei.value.code == "card_auth_failed" and "認証に失敗" in ei.value.message
    assert snapshot(hq) == before and not (tmp_path / "T01").exists()
    assert card.applet.state.use_counter == 0


async def test_a_card_signature_cannot_be_replayed_into_another_session(hq: HqDir) -> None:
    reader, card = card_in_reader(hq)
    service = EnrollService(hq, CLOCK)
    ep = await serve_enrollment(service, "127.0.0.1", 0)
    link = _Hq(f"127.0.0.1:{ep.port}", EnrollSettings())
    await link.open()
    before = snapshot(hq)
    try:
        info = await link.ca()
        link.pin(info.ca_pem, info.election_id)
        key_pem, _ = pki.new_device_key()
        csr, dev = make_csr(key_pem, "T01"), b"\x07" * 32
        with reader.connect("r") as ch:
            c = CardClient(ch)
            c.select()
            c.verify_pin(PIN)
            serial = card.applet.state.serial
            hello = Hello("yokohama-2027", serial, "T01", "E01", False)
            first = Challenge.parse(await link.post("/enroll/v1/hello", hello.to_json()))
            sig = c.internal_authenticate(challenge_for("yokohama-2027", serial, first.session, first.nonce, csr,
                                                        dev, False))
        # (Checked before the second hello: a new hello from the same card replaces its waiting session.)
        with pytest.raises(MeiboError) as ei:  # another key pair under the first session's signature
            await link.post("/enroll/v1/prove", Proof(first.session, csr, b"\x08" * 32, sig).to_json())
        assert ei.value.code == "card_auth_failed"
        with pytest.raises(MeiboError) as ei:  # commit without a proof
            await link.post("/enroll/v1/commit", {"session": first.session.hex()})
        assert ei.value.code == "session_unknown"
        second = Challenge.parse(await link.post("/enroll/v1/hello", hello.to_json()))
        with pytest.raises(MeiboError) as ei:  # the first session's signature, offered in the second
            await link.post("/enroll/v1/prove", Proof(second.session, csr, dev, sig).to_json())
        assert ei.value.code == "card_auth_failed"
        with pytest.raises(MeiboError) as ei:  # a refused session is dead, even for the right proof
            await link.post("/enroll/v1/prove", Proof(second.session, csr, dev, sig).to_json())
        assert ei.value.code == "session_unknown"
    finally:
        await link.close()
        await ep.stop()
    assert snapshot(hq) == before


def test_pin_is_never_an_argument() -> None:
    from cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["terminal", "enroll", "T", "--reader", "r", "--pin", "1234"])
    args: Any = build_parser().parse_args(["terminal", "enroll", "T", "--reader", "r", "--pin-file", "f"])
    assert args.pin_file == "f"


async def test_commit_asked_again_returns_the_same_certificate_and_registers_once(hq: HqDir) -> None:
    reader, card = card_in_reader(hq)
    ep = await serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", 0)
    link = _Hq(f"127.0.0.1:{ep.port}", EnrollSettings())
    await link.open()
    try:
        info = await link.ca()
        link.pin(info.ca_pem, info.election_id)
        key_pem, _ = pki.new_device_key()
        csr, dev = make_csr(key_pem, "T01"), b"\x07" * 32
        with reader.connect("r") as ch:
            c = CardClient(ch)
            c.select()
            c.verify_pin(PIN)
            serial = card.applet.state.serial
            ch1 = Challenge.parse(await link.post("/enroll/v1/hello", Hello("yokohama-2027", serial, "T01", "E01",
                                                                               False).to_json()))
            sig = c.internal_authenticate(challenge_for("yokohama-2027", serial, ch1.session, ch1.nonce, csr, dev,
                                                        False))
        await link.post("/enroll/v1/prove", Proof(ch1.session, csr, dev, sig).to_json())
        first = await link.post("/enroll/v1/commit", {"session": ch1.session.hex()})
        again = await link.post("/enroll/v1/commit", {"session": ch1.session.hex()})  # the answer was "lost"
        await link.post("/enroll/v1/abort", {"session": ch1.session.hex()})  # too late to abort: no effect
    finally:
        await link.close()
        await ep.stop()
    assert first == again
    [entry] = json.loads((hq.root / "terminals.json").read_text())
    assert entry["tls_serials"] == [int(first["serial"])] and not entry["revoked"]
    assert cards.load_cards(hq.root)[0].state is cards.CardRecordState.USED


async def test_card_cancelled_at_hq_during_enrollment_is_refused_at_commit(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq)
    serial = card.applet.state.serial.hex()
    ep = await serve_enrollment(EnrollService(hq, CLOCK), "127.0.0.1", 0)
    registry_before = (hq.root / "terminals.json").read_bytes()

    def progress(text: str) -> None:
        if text.startswith("名簿"):  # after HQ accepted the card's proof, before COMMIT
            cards.cancel(hq.root, serial, "紛失の届け", CLOCK)

    try:
        with pytest.raises(MeiboError) as ei:
            await enroll(tmp_path / "T01", reader, "r", lambda t: PIN, CLOCK, hq=f"127.0.0.1:{ep.port}",
                         progress=progress)
    finally:
        await ep.stop()
    assert ei.value.code == "card_cancelled"
    assert (hq.root / "terminals.json").read_bytes() == registry_before
    assert cards.load_cards(hq.root)[0].state is cards.CardRecordState.CANCELLED
    assert not (tmp_path / "T01").exists() and not list(tmp_path.glob(".T01.*"))


async def test_impostor_serving_the_right_ca_but_its_own_certificate_is_not_trusted(hq: HqDir, tmp_path: Path) -> None:
    reader, card = card_in_reader(hq)
    cfg = tmp_path / "impostor.toml"
    cfg.write_text(election_toml(), "utf-8")
    impostor = HqDir(tmp_path / "impostor")
    hq_init(impostor.root, cfg, CLOCK)
    service = EnrollService(impostor, CLOCK)
    real_ca = pki.PkiPaths(hq.pki).ca_cert.read_bytes()

    async def copied_ca(request: Any) -> Any:  # passes the fingerprint check; TLS must still fail
        from aiohttp import web
        from provisioning.enroll import CaInfo
        return web.json_response(CaInfo("yokohama-2027", real_ca).to_json())

    service.h_ca = copied_ca  # type: ignore[method-assign]
    ep = await serve_enrollment(service, "127.0.0.1", 0)
    try:
        with pytest.raises(MeiboError) as ei:
            await enroll(tmp_path / "T01", reader, "r", lambda t: PIN, CLOCK, hq=f"127.0.0.1:{ep.port}")
    finally:
        await ep.stop()
    assert ei.value.code == "hq_not_trusted"
    assert card.applet.state.use_counter == 0 and not (tmp_path / "T01").exists()
