"""The election PKI: election CA, HQ's TLS server certificate, device certificates, revocation list.

This is the one module of the package that touches key material (STYLE rule 5). Keys are ECDSA
P-256 (what every TLS 1.3 stack and smart card supports); the CA key is only needed to issue and
revoke, so an office may keep HQDIR/pki/ca.key offline between those moments.

Validity: device certificates last the election period plus a margin. TLS checks validity against
the *real* clock, so a rehearsal run with ``--now`` on another date still gets certificates valid
today (``not_before`` is the earlier of the two, ``not_after`` at least two days from today). Both
clocks are injected (STYLE rule 6): ``clock`` is the election's (``--now``), ``tls_clock`` the one
TLS will judge by, the machine's unless a test or the simulator fixes it.

Names: HQ's certificate carries its closed-network host and a stable name
``hq.<election>.meibo`` that terminals check as ``server_hostname``, so a terminal reached
through a relay or a test proxy still verifies exactly one peer (特定通信 ②). A device certificate
names the terminal (CN) and carries ``urn:meibo:<election>:<terminal>:<station>`` as a URI SAN.

Revocation list (CRL): HQ checks it for every client certificate (``VERIFY_CRL_CHECK_LEAF``), and
OpenSSL refuses *every* client once its ``next_update`` has passed. So the CRL is short-lived
(``CrlSettings.lifetime``) and HQ re-issues it while it serves (hq/crl_keeper.py):
when less than ``renew_fraction`` of the lifetime remains and at every revocation. Its dates come
from the injected clock; like certificates, the window is stretched to cover the real time too,
because TLS judges it by the machine's real clock (a ``--now`` rehearsal must not lock HQ out).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ground.clock import Clock, SystemClock
from appliance.dirs import write_atomic, write_private
from ground.errors import MeiboError
from ground.model import ElectionConfig

MARGIN = timedelta(days=30)
CRL_LIFETIME = timedelta(days=2)
CRL_BACKDATE = timedelta(minutes=5)  # this_update a little in the past: no "not yet valid" at the edge
MACHINE_CLOCK: Clock = SystemClock()  # the default ``tls_clock``: what TLS peers judge dates by


class PkiError(MeiboError):
    code = "pki_error"


class CaKeyMissing(PkiError):
    """The election CA's private key is not here (kept offline): nothing can be signed until it is back."""

    code = "ca_key_missing"


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


def _validity(config: ElectionConfig, clock: Clock, tls_clock: Clock) -> tuple[datetime, datetime]:
    real_now = tls_clock.now().astimezone(timezone.utc)
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
        raise CaKeyMissing(f"選挙 CA の鍵がありません（オフライン保管中なら戻してください）: {p.ca_key}")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, cert


@contextlib.contextmanager
def _issued_lock(p: PkiPaths) -> Iterator[None]:
    """An flock beside issued.json: HQ's enrollment desk and ``hq enroll-local`` may issue at once."""
    p.issued.parent.mkdir(parents=True, exist_ok=True)
    with open(p.issued.with_name("issued.json.lock"), "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _issued(p: PkiPaths) -> dict[str, dict[str, str]]:
    if not p.issued.exists():
        return {}
    data: dict[str, dict[str, str]] = json.loads(p.issued.read_text("utf-8"))
    return data


def create_election_pki(pki_dir: Path, config: ElectionConfig, clock: Clock, *,
                        tls_clock: Clock = MACHINE_CLOCK) -> None:
    """Create the election CA, HQ's server certificate and an empty revocation list."""
    p = PkiPaths(pki_dir)
    if p.ca_key.exists():
        raise PkiError(f"選挙 CA はすでにあります: {p.ca_key}", code="ca_exists")
    start, end = _validity(config, clock, tls_clock)
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

    write_hq_cert(pki_dir, config, clock, tls_clock=tls_clock)
    write_atomic(p.issued, b"{}")
    write_crl(pki_dir, clock, set(), tls_clock=tls_clock)


def write_hq_cert(pki_dir: Path, config: ElectionConfig, clock: Clock, *, hosts: tuple[str, ...] = (),
                  tls_clock: Clock = MACHINE_CLOCK) -> bytes:
    """A fresh TLS key and server certificate for HQ (hq.key, hq.pem), issued by the election CA for
    the election's HQ name and the closed-network host of ``config.hq_address`` plus ``hosts``
    (host:port):
    every HQ node has one of its own (hq/nodes.py). Returns the certificate's SHA-256 (DER)."""
    p = PkiPaths(pki_dir)
    ca_key, ca = _load_ca(p)
    start, end = _validity(config, clock, tls_clock)
    sans: list[x509.GeneralName] = [x509.DNSName(hq_server_name(config.election_id))]
    for addr in (config.hq_address, *hosts):
        host = addr.rsplit(":", 1)[0].strip("[]")  # host:port, as in [hq] address(es)
        name: x509.GeneralName
        try:
            name = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            name = x509.DNSName(host)
        if name not in sans:
            sans.append(name)
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
    return hashlib.sha256(hq.public_bytes(serialization.Encoding.DER)).digest()


def ca_fingerprint(pki_dir: Path) -> bytes:
    """SHA-256 of the election CA certificate (DER): what the enrollment card carries."""
    cert = x509.load_pem_x509_certificate(PkiPaths(pki_dir).ca_cert.read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


def issue_device_cert(pki_dir: Path, config: ElectionConfig, terminal: str, station: str,
                      public_key: ec.EllipticCurvePublicKey, clock: Clock, *,
                      tls_clock: Clock = MACHINE_CLOCK) -> tuple[bytes, int]:
    """Issue a TLS client certificate naming terminal and station; returns (PEM, serial)."""
    p = PkiPaths(pki_dir)
    ca_key, ca = _load_ca(p)
    start, end = _validity(config, clock, tls_clock)
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
    with _issued_lock(p):  # read-modify-write: two issuances at once must not lose a serial
        issued = _issued(p)
        issued[str(serial)] = {"terminal": terminal, "station": station, "not_after": end.isoformat()}
        write_atomic(p.issued, json.dumps(issued, ensure_ascii=False, indent=1).encode("utf-8"))
    return cert.public_bytes(serialization.Encoding.PEM), serial


def issue_local_tls(pki_dir: Path, tls_dir: Path, terminal: str, station: str,
                    config: ElectionConfig, clock: Clock, *, tls_clock: Clock = MACHINE_CLOCK) -> int:
    """Give a terminal directory a fresh TLS key, its certificate and the pinned CA (the
    operator's direct path, ``meibo hq enroll-local``). Returns the certificate serial."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem, serial = issue_device_cert(pki_dir, config, terminal, station, key.public_key(), clock,
                                    tls_clock=tls_clock)
    write_private(tls_dir / "client.key", _key_pem(key))
    write_atomic(tls_dir / "client.pem", pem)
    write_atomic(tls_dir / "ca.pem", PkiPaths(pki_dir).ca_cert.read_bytes())
    return serial


def new_device_key() -> tuple[bytes, ec.EllipticCurvePublicKey]:
    """A terminal's TLS key, generated on the terminal (PEM, public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _key_pem(key), key.public_key()


@dataclass(frozen=True)
class CrlSettings:
    """How HQ keeps its revocation list current (失効リストの更新)."""

    lifetime: timedelta = CRL_LIFETIME  # next_update - now of a freshly issued CRL
    renew_fraction: float = 0.5  # re-issue when less than this share of the lifetime remains
    check_interval_s: float = 0.5  # how often a serving HQ looks at the CRL and the registry
    renew: bool = True  # periodic renewal while serving; False only to show what happens without it

    @property
    def renew_below(self) -> timedelta:
        return self.lifetime * self.renew_fraction


@dataclass(frozen=True)
class CrlInfo:
    """What HQ needs to know about the CRL on disk."""

    last_update: datetime
    next_update: datetime
    serials: frozenset[int]


def crl_window(at: datetime, real: datetime, lifetime: timedelta) -> tuple[datetime, datetime]:
    """(this_update, next_update) for a CRL issued at ``at`` (the injected clock). ``real`` is the
    machine's clock, by which TLS judges the CRL: the window covers both instants."""
    at, real = at.astimezone(timezone.utc), real.astimezone(timezone.utc)
    return min(at, real) - CRL_BACKDATE, max(at, real) + lifetime


def crl_renewal_due(info: CrlInfo | None, now: datetime, settings: CrlSettings,
                    must_list: frozenset[int] | set[int] = frozenset()) -> str | None:
    """Why the CRL must be re-issued now, or None. Pure: the keeper and compliance share it.

    ``unreadable`` (missing, corrupt or not signed by the CA), ``revocation`` (a revoked serial is
    missing), ``not_yet_valid``, ``expired``, ``half_life`` (less than ``renew_below`` left)."""
    if info is None:
        return "unreadable"
    if not set(must_list) <= info.serials:
        return "revocation"
    if info.last_update > now:
        return "not_yet_valid"
    if info.next_update <= now:
        return "expired"
    if info.next_update - now < settings.renew_below:
        return "half_life"
    return None


def read_crl(pki_dir: Path) -> CrlInfo | None:
    """The CRL on disk if it is signed by the election CA, else None."""
    p = PkiPaths(pki_dir)
    try:
        ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
        crl = x509.load_pem_x509_crl(p.crl.read_bytes())
    except (OSError, ValueError):
        return None
    ca_pub = ca.public_key()
    if crl.issuer != ca.subject or not isinstance(ca_pub, ec.EllipticCurvePublicKey) \
            or not crl.is_signature_valid(ca_pub) or crl.next_update_utc is None:
        return None
    return CrlInfo(crl.last_update_utc, crl.next_update_utc, frozenset(r.serial_number for r in crl))


def replace_file(path: Path, data: bytes) -> None:
    """Atomic replace through a temporary file of its own: ``hq revoke`` in another process and a
    serving HQ may both write the CRL, and a shared temporary name could interleave them."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_crl(pki_dir: Path, clock: Clock, revoked_serials: set[int],
              lifetime: timedelta = CRL_LIFETIME, *, tls_clock: Clock = MACHINE_CLOCK) -> CrlInfo:
    """(Re)write the revocation list atomically; HQ also refuses revoked terminals in the
    application. Dates from ``clock`` (window stretched to cover the real time, see crl_window)."""
    p = PkiPaths(pki_dir)
    ca_key, ca = _load_ca(p)
    this_update, next_update = crl_window(clock.now(), tls_clock.now(), lifetime)
    b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
         .last_update(this_update).next_update(next_update))
    for s in sorted(revoked_serials):
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(s)
                                      .revocation_date(this_update).build())
    crl = b.sign(ca_key, hashes.SHA256())
    replace_file(p.crl, crl.public_bytes(serialization.Encoding.PEM))
    return CrlInfo(crl.last_update_utc, crl.next_update_utc or next_update, frozenset(revoked_serials))


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
