"""When HQ must re-issue its revocation list (pure), the CRL's date window, and a CRL written
then read back: dates from the injected clock, stretched to cover the real time TLS judges by."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from ground.clock import FixedClock
from hq.terminals import hq_init
from provisioning import pki
from provisioning.pki import CRL_BACKDATE, CrlInfo, CrlSettings, crl_renewal_due, crl_window
from tests.builders import election_toml

T0 = datetime(2027, 4, 20, 3, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
S = CrlSettings(lifetime=2 * DAY)


def info(last: datetime, nxt: datetime, serials: set[int] = set()) -> CrlInfo:  # noqa: B006 - read only
    return CrlInfo(last, nxt, frozenset(serials))


@pytest.mark.parametrize("crl, now, must, want", [
    (None, T0, set(), "unreadable"),
    (info(T0, T0 + 2 * DAY, {7}), T0, {7, 8}, "revocation"),
    (info(T0 + timedelta(minutes=1), T0 + 2 * DAY), T0, set(), "not_yet_valid"),
    (info(T0 - 2 * DAY, T0), T0, set(), "expired"),
    (info(T0 - DAY, T0 + DAY - timedelta(seconds=1)), T0, set(), "half_life"),
    (info(T0 - DAY, T0 + DAY), T0, set(), None),  # exactly half left: not yet
    (info(T0, T0 + 2 * DAY, {7, 8}), T0, {7}, None),
])
def test_renewal_due_reasons(crl: CrlInfo | None, now: datetime, must: set[int], want: str | None) -> None:
    assert crl_renewal_due(crl, now, S, must) == want


def test_renew_fraction_is_a_setting() -> None:
    crl = info(T0 - DAY, T0 + timedelta(hours=20))
    assert crl_renewal_due(crl, T0, CrlSettings(lifetime=2 * DAY, renew_fraction=0.25)) is None
    assert crl_renewal_due(crl, T0, CrlSettings(lifetime=2 * DAY, renew_fraction=0.5)) == "half_life"


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(timezone.utc))


@given(at=instants, real=instants, seconds=st.integers(min_value=1, max_value=30 * 86400))
def test_window_covers_the_clock_and_the_real_time(at: datetime, real: datetime, seconds: int) -> None:
    life = timedelta(seconds=seconds)
    this_update, next_update = crl_window(at, real, life)
    for t in (at, real):
        assert this_update <= t - CRL_BACKDATE and next_update >= t + life
    if at == real:
        assert (this_update, next_update) == (at - CRL_BACKDATE, at + life)


@pytest.fixture
def hq(tmp_path: Path) -> Path:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(election_id="crl", hq_address="10.20.0.1:8443"), "utf-8")
    hq_init(tmp_path / "hq", cfg, FixedClock(datetime.now(timezone.utc)))
    return tmp_path / "hq"


def test_written_crl_dates_come_from_the_clock(hq: Path) -> None:
    future = datetime(2031, 5, 1, 9, 30, 7, tzinfo=timezone.utc)  # a rehearsal clock ahead of the real one
    got = pki.write_crl(hq / "pki", FixedClock(future), {11, 12}, timedelta(hours=6))
    back = pki.read_crl(hq / "pki")
    assert back == got
    assert back.next_update == future + timedelta(hours=6) and back.serials == {11, 12}
    assert back.last_update <= datetime.now(timezone.utc)  # valid now, for the real TLS check
    pem = (hq / "pki" / "crl.pem").read_bytes()
    assert x509.load_pem_x509_crl(pem).get_revoked_certificate_by_serial_number(12) is not None
    assert not list((hq / "pki").glob("*.tmp"))  # the atomic replace left nothing behind


def test_a_crl_not_signed_by_the_election_ca_reads_as_none(hq: Path) -> None:
    good = x509.load_pem_x509_crl((hq / "pki" / "crl.pem").read_bytes())
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    forged = (x509.CertificateRevocationListBuilder().issuer_name(good.issuer)
              .last_update(T0).next_update(T0 + 400 * DAY).sign(rogue_key, hashes.SHA256()))
    (hq / "pki" / "crl.pem").write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    assert pki.read_crl(hq / "pki") is None
    assert crl_renewal_due(pki.read_crl(hq / "pki"), T0, S) == "unreadable"
