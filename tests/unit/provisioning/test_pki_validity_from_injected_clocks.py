"""The election PKI reads no hidden clock (STYLE rule 6): certificate validity and the revocation
list's window come from the two clocks passed in, the election's (``--now``) and the one TLS judges
by (the machine's unless fixed). With both fixed far from today, every date is exactly theirs."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ground.clock import FixedClock
from provisioning import pki
from tests.builders import election_config, jst

UTC = timezone.utc
ELECTION_END = datetime(2027, 4, 25, tzinfo=UTC) + pki.MARGIN  # election day + margin


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certificates_and_crl_dated_by_the_injected_clocks(tmp_path: Path) -> None:
    clock, tls = FixedClock(jst(2020, 1, 1, 12)), FixedClock(jst(2020, 1, 2, 12))
    cfg = election_config()
    pki.create_election_pki(tmp_path, cfg, clock, tls_clock=tls)
    pem, _ = pki.issue_device_cert(tmp_path, cfg, "T01", "E01", ec.generate_private_key(ec.SECP256R1()).public_key(),
                                   clock, tls_clock=tls)
    start = datetime(2019, 12, 31, 3, 0, tzinfo=UTC)  # the earlier clock (12:00 JST) less one day
    paths = pki.PkiPaths(tmp_path)
    for cert in (_cert(paths.ca_cert), _cert(paths.hq_cert), x509.load_pem_x509_certificate(pem)):
        assert (cert.not_valid_before_utc, cert.not_valid_after_utc) == (start, ELECTION_END)
    crl = pki.read_crl(tmp_path)
    assert crl is not None
    assert crl.last_update == datetime(2020, 1, 1, 3, 0, tzinfo=UTC) - pki.CRL_BACKDATE
    assert crl.next_update == datetime(2020, 1, 2, 3, 0, tzinfo=UTC) + pki.CRL_LIFETIME


def test_a_late_tls_clock_stretches_not_after(tmp_path: Path) -> None:
    clock, tls = FixedClock(jst(2020, 1, 1, 12)), FixedClock(jst(2040, 1, 1, 12))
    cfg = election_config()
    pki.create_election_pki(tmp_path, cfg, clock, tls_clock=tls)
    cert = _cert(pki.PkiPaths(tmp_path).hq_cert)
    assert cert.not_valid_before_utc == datetime(2019, 12, 31, 3, 0, tzinfo=UTC)
    assert cert.not_valid_after_utc == datetime(2040, 1, 1, 3, 0, tzinfo=UTC) + timedelta(days=2)
    info = pki.write_crl(tmp_path, clock, {7}, timedelta(hours=6), tls_clock=tls)
    assert (info.last_update, info.next_update) == (datetime(2020, 1, 1, 3, 0, tzinfo=UTC) - pki.CRL_BACKDATE,
                                                    datetime(2040, 1, 1, 9, 0, tzinfo=UTC))
