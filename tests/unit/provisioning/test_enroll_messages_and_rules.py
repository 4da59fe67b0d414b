"""Enrollment messages parse strictly (any JSON either parses or is a clear protocol error), HQ's
admission rules refuse each bad input with its own code, and the challenge binds every field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings, strategies as st

from ground.clock import FixedClock
from provisioning import pki
from provisioning.enroll import (CaInfo, CardFacts, Certified, Challenge, EnrollProtocolError, EnrollRefused,
                                 Hello, HqNotTrusted, Proof, Proven, RollRef, admit, challenge_for,
                                 csr_public_key, enrollment_address, fingerprint, make_csr, roll_chain)
from provisioning.enroll_client import check_certificate
from tests.builders import EARLY_NOON, election_config

SERIAL = bytes.fromhex("0011223344556677")
HELLO = Hello("yokohama-2027", SERIAL, "T01", "E01", False)
CARD = CardFacts(SERIAL, "yokohama-2027", "T01", "E01", b"\x01" * 32, "issued")

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=6),
                           max_leaves=20)
PARSERS = [CaInfo.parse, Hello.parse, Challenge.parse, Proof.parse, Proven.parse, Certified.parse]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARSERS), json_values)
def test_any_json_parses_or_is_a_protocol_error(parse: Any, value: Any) -> None:
    try:
        parse(value)
    except EnrollProtocolError as e:
        assert e.code in ("bad_request", "protocol_mismatch") and e.message


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(HELLO.to_json())), json_values)
def test_hello_with_one_field_replaced_parses_or_is_refused(key: str, value: Any) -> None:
    d = HELLO.to_json()
    d[key] = value
    try:
        h = Hello.parse(json.loads(json.dumps(d)))
    except EnrollProtocolError:
        return
    assert h.to_json()[key] == value


def test_messages_round_trip() -> None:
    assert Hello.parse(HELLO.to_json()) == HELLO
    ch = Challenge(b"\x02" * 16, b"\x03" * 32)
    assert Challenge.parse(ch.to_json()) == ch
    pr = Proof(b"\x02" * 16, b"\x30" * 40, b"\x04" * 32, b"\x05" * 64)
    assert Proof.parse(pr.to_json()) == pr
    pv = Proven(b"[election]\n", b"\x06" * 32, "10.0.0.1:8443",
                (RollRef(3, "full", 10, "a" * 64), RollRef(4, "delta", 5, "b" * 64)))
    assert Proven.parse(pv.to_json()) == pv
    c = Certified(b"-----BEGIN CERTIFICATE-----", 123456789012345678901234567890, (5, 6))
    assert Certified.parse(c.to_json()) == c


@pytest.mark.parametrize("rolls", [
    [],
    [("delta", 2)],
    [("full", 1), ("full", 2)],
    [("full", 1), ("delta", 3)],
])
def test_proven_refuses_a_roll_chain_that_is_not_one_full_then_consecutive_deltas(rolls: list[tuple[str, int]]) -> None:
    d = Proven(b"x", b"\x06" * 32, "10.0.0.1:8443", ()).to_json()
    d["rolls"] = [{"version": v, "kind": k, "size": 1, "sha256": "c" * 64} for k, v in rolls]
    with pytest.raises(EnrollProtocolError):
        Proven.parse(d)


def test_roll_chain_is_the_newest_full_and_the_deltas_after_it() -> None:
    vs = [{"version": 1, "kind": "full"}, {"version": 2, "kind": "delta"}, {"version": 3, "kind": "full"},
          {"version": 4, "kind": "delta"}]
    assert [v["version"] for v in roll_chain(vs)] == [3, 4]
    assert roll_chain([]) == []


@pytest.mark.parametrize("hello,card,active,rolls,code", [
    (Hello("other", SERIAL, "T01", "E01", False), CARD, False, True, "card_other_election"),
    (HELLO, None, False, True, "card_unknown"),
    (HELLO, CardFacts(SERIAL, "other", "T01", "E01", b"", "issued"), False, True, "card_other_election"),
    (HELLO, CardFacts(SERIAL, "yokohama-2027", "T01", "E01", b"", "used"), False, True, "card_used"),
    (HELLO, CardFacts(SERIAL, "yokohama-2027", "T01", "E01", b"", "cancelled"), False, True, "card_cancelled"),
    (HELLO, CardFacts(SERIAL, "yokohama-2027", "T02", "E01", b"", "issued"), False, True, "card_mismatch"),
    (HELLO, CardFacts(SERIAL, "yokohama-2027", "T01", "E02", b"", "issued"), False, True, "card_mismatch"),
    (HELLO, CARD, True, True, "terminal_already_enrolled"),
    (HELLO, CARD, False, False, "roll_not_published"),
])
def test_admission_refuses_each_bad_input(hello: Hello, card: CardFacts | None, active: bool, rolls: bool,
                                          code: str) -> None:
    with pytest.raises(EnrollRefused) as ei:
        admit(hello, "yokohama-2027", card, active, rolls)
    assert ei.value.code == code and ei.value.message


def test_admission_lets_replace_through_an_enrolled_terminal() -> None:
    admit(Hello("yokohama-2027", SERIAL, "T01", "E01", True), "yokohama-2027", CARD, True, True)
    admit(HELLO, "yokohama-2027", CARD, False, True)


def test_challenge_binds_every_field() -> None:
    base: dict[str, Any] = dict(election_id="e", card_serial=SERIAL, session=b"s" * 16, nonce=b"n" * 32,
                                csr_der=b"csr", device_pub=b"d" * 32, replace=False)
    c0 = challenge_for(**base)
    assert len(c0) == 32
    for k, v in [("election_id", "f"), ("card_serial", b"\x00" * 8), ("session", b"t" * 16), ("nonce", b"m" * 32),
                 ("csr_der", b"csq"), ("device_pub", b"e" * 32), ("replace", True)]:
        assert challenge_for(**{**base, k: v}) != c0, k


def test_csr_proves_the_key_and_garbage_is_refused() -> None:
    key_pem, pub = pki.new_device_key()
    csr = make_csr(key_pem, "T01")
    assert csr_public_key(csr).public_numbers() == pub.public_numbers()
    for bad in (b"", b"\x30\x03abc", csr[:-1] + bytes([csr[-1] ^ 1])):
        with pytest.raises(EnrollRefused) as ei:
            csr_public_key(bad)
        assert ei.value.code == "csr_invalid"


def test_terminal_accepts_only_its_own_certificate(tmp_path: Any) -> None:
    cfg = election_config()
    clock = FixedClock(EARLY_NOON)
    pki.create_election_pki(tmp_path / "pki", cfg, clock)
    ca = pki.PkiPaths(tmp_path / "pki").ca_cert.read_bytes()
    key_pem, pub = pki.new_device_key()
    csr = make_csr(key_pem, "T01")
    cert, _ = pki.issue_device_cert(tmp_path / "pki", cfg, "T01", "E01", pub, clock)
    check_certificate(cert, ca, csr, cfg.election_id, "T01", "E01")
    other, _ = pki.issue_device_cert(tmp_path / "pki", cfg, "T01", "E01", ec.generate_private_key(ec.SECP256R1()).public_key(), clock)
    for args in [(other, ca, csr, cfg.election_id, "T01", "E01"), (cert, ca, csr, cfg.election_id, "T02", "E01"),
                 (cert, ca, csr, cfg.election_id, "T01", "E02"), (b"junk", ca, csr, cfg.election_id, "T01", "E01")]:
        with pytest.raises(EnrollProtocolError) as ei:
            check_certificate(*args)
        assert ei.value.code == "certificate_mismatch"
    assert fingerprint(ca) == pki.ca_fingerprint(tmp_path / "pki")
    with pytest.raises(HqNotTrusted):
        fingerprint(b"not a certificate")


def test_default_enrollment_address_is_the_sync_port_plus_one() -> None:
    assert enrollment_address("10.20.0.1:8443") == "10.20.0.1:8444"
    assert enrollment_address("[fd00::1]:8443") == "[fd00::1]:8444"
