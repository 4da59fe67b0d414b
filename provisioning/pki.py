"""The election PKI: election CA, HQ's TLS server certificate, device certificates, revocation list.

This is the one module of the package that touches key material (STYLE rule 5). Keys are ECDSA
P-256 (what every TLS 1.3 stack and smart card supports); the CA key is only needed to issue and
revoke, so an office may keep HQDIR/pki/ca.key offline between those moments.

Validity: device certificates last the election period plus a margin. TLS checks validity against
the *real* clock, so a rehearsal run with ``--now`` on another date still gets certificates valid
today (``not_before`` is the earlier of the two, ``not_after`` at least two days from today).

Names: HQ's certificate carries its closed-network host and a stable name
``hq.<election>.meibo`` that terminals check as ``server_hostname``, so a terminal reached
through a relay or a test proxy still verifies exactly one peer (特定通信 ②). A device certificate
names the terminal (CN) and carries ``urn:meibo:<election>:<terminal>:<station>`` as a URI SAN.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.clock import Clock
from appliance.dirs import write_atomic, write_private
from appliance.errors import MeiboError
from appliance.model import ElectionConfig

MARGIN = timedelta(days=30)
CRL_LIFETIME = timedelta(days=2)


class PkiError(MeiboError):
    code = "pki_error"


@dataclass(frozen=True)
class PkiPaths:
    root: Path

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def hq_key(self) -> Path:
        return self.root / "hq.key"

    @property
    def hq_cert(self) -> Path:
        return self.root / "hq.pem"

    @property
    def crl(self) -> Path:
        return self.root / "crl.pem"

    @property
    def issued(self) -> Path:
        return self.root / "issued.json"


def hq_server_name(election_id: str) -> str:
    return f"hq.{election_id}.meibo"


def device_urn(election_id: str, terminal: str, station: str) -> str:
    return f"urn:meibo:{election_id}:{terminal}:{station}"


def parse_device_urn(urn: str) -> tuple[str, str, str] | None:
    parts = urn.split(":")
    if len(parts) != 5 or parts[0] != "urn" or parts[1] != "meibo":
        return None
    return parts[2], parts[3], parts[4]


def _validity(config: ElectionConfig, clock: Clock) -> tuple[datetime, datetime]:
    real_now = datetime.now(timezone.utc)
    start = min(clock.now().astimezone(timezone.utc), real_now) - timedelta(days=1)
    first_day = min([config.early_voting_start, *(c.early_voting_start for c in config.contests)])
    start = min(start, datetime(first_day.year, first_day.month, first_day.day, tzinfo=timezone.utc) - MARGIN)
    end = datetime(config.election_day.year, config.election_day.month, config.election_day.day,
                   tzinfo=timezone.utc) + MARGIN
    end = max(end, real_now + timedelta(days=2))
    return start, end


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load_ca(p: PkiPaths) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key(p.ca_key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    except FileNotFoundError:
        raise PkiError(f"選挙 CA の鍵がありません（オフライン保管中なら戻してください）: {p.ca_key}", code="ca_key_missing")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, cert


def _issued(p: PkiPaths) -> dict[str, dict[str, str]]:
    if not p.issued.exists():
        return {}
    data: dict[str, dict[str, str]] = json.loads(p.issued.read_text("utf-8"))
    return data


def create_election_pki(pki_dir: Path, config: ElectionConfig, clock: Clock) -> None:
    """Create the election CA, HQ's server certificate and an empty revocation list."""
    p = PkiPaths(pki_dir)
    if p.ca_key.exists():
        raise PkiError(f"選挙 CA はすでにあります: {p.ca_key}", code="ca_exists")
    start, end = _validity(config, clock)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "meibo"),
                         x509.NameAttribute(NameOID.COMMON_NAME, f"meibo election CA {config.election_id}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    write_private(p.ca_key, _key_pem(ca_key))
    write_atomic(p.ca_cert, ca.public_bytes(serialization.Encoding.PEM))

    host = config.hq_address.rsplit(":", 1)[0].strip("[]")
    sans: list[x509.GeneralName] = [x509.DNSName(hq_server_name(config.election_id))]
    try:
        sans.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        sans.append(x509.DNSName(host))
    hq_key = ec.generate_private_key(ec.SECP256R1())
    hq = (x509.CertificateBuilder()
          .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hq_server_name(config.election_id))]))
          .issuer_name(ca.subject).public_key(hq_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.SubjectAlternativeName(sans), critical=False)
          .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
          .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
          .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    write_private(p.hq_key, _key_pem(hq_key))
    write_atomic(p.hq_cert, hq.public_bytes(serialization.Encoding.PEM))
    write_atomic(p.issued, b"{}")
    write_crl(pki_dir, clock, set())


def ca_fingerprint(pki_dir: Path) -> bytes:
    """SHA-256 of the election CA certificate (DER): what the enrollment card carries."""
    cert = x509.load_pem_x509_certificate(PkiPaths(pki_dir).ca_cert.read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def issue_device_cert(pki_dir: Path, config: ElectionConfig, terminal: str, station: str,
                      public_key: ec.EllipticCurvePublicKey, clock: Clock) -> tuple[bytes, int]:
    """Issue a TLS client certificate naming terminal and station; returns (PEM, serial)."""
    p = PkiPaths(pki_dir)
    ca_key, ca = _load_ca(p)
    start, end = _validity(config, clock)
    serial = x509.random_serial_number()
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, terminal),
                                     x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, station)]))
            .issuer_name(ca.subject).public_key(public_key).serial_number(serial)
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(device_urn(config.election_id, terminal, station))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    issued = _issued(p)
    issued[str(serial)] = {"terminal": terminal, "station": station, "not_after": end.isoformat()}
    write_atomic(p.issued, json.dumps(issued, ensure_ascii=False, indent=1).encode("utf-8"))
    return cert.public_bytes(serialization.Encoding.PEM), serial


def issue_local_tls(pki_dir: Path, tls_dir: Path, terminal: str, station: str,
                    config: ElectionConfig, clock: Clock) -> int:
    """Give a terminal directory a fresh TLS key, its certificate and the pinned CA (the
    operator's direct path, ``meibo hq enroll-local``). Returns the certificate serial."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem, serial = issue_device_cert(pki_dir, config, terminal, station, key.public_key(), clock)
    write_private(tls_dir / "client.key", _key_pem(key))
    write_atomic(tls_dir / "client.pem", pem)
    write_atomic(tls_dir / "ca.pem", PkiPaths(pki_dir).ca_cert.read_bytes())
    return serial


def new_device_key() -> tuple[bytes, ec.EllipticCurvePublicKey]:
    """A terminal's TLS key, generated on the terminal (PEM, public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _key_pem(key), key.public_key()


def write_crl(pki_dir: Path, clock: Clock, revoked_serials: set[int]) -> None:
    """(Re)write the revocation list; HQ also refuses revoked terminals in the application."""
    p = PkiPaths(pki_dir)
    ca_key, ca = _load_ca(p)
    now = datetime.now(timezone.utc)
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
         .last_update(now - timedelta(minutes=5)).next_update(now + CRL_LIFETIME))
    for s in sorted(revoked_serials):
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(s)
                                      .revocation_date(now - timedelta(minutes=5)).build())
    crl = b.sign(ca_key, hashes.SHA256())
    write_atomic(p.crl, crl.public_bytes(serialization.Encoding.PEM))


def serials_of_terminal(pki_dir: Path, terminal: str) -> set[int]:
    return {int(s) for s, v in _issued(PkiPaths(pki_dir)).items() if v.get("terminal") == terminal}


def cert_identity(der: bytes) -> tuple[str, str, str, int] | None:
    """(election, terminal, station, serial) from a peer certificate, or None if not a device cert."""
    try:
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        parsed = parse_device_urn(uri)
        if parsed:
            return parsed[0], parsed[1], parsed[2], cert.serial_number
    return None
