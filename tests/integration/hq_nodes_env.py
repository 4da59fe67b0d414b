"""Two HQ nodes for the sync agent's failover tests (issue 18): a site whose election.toml names
both nodes in ``[hq] addresses`` (sync_env.make_env's site otherwise), a node of its own
certificate from the election CA, and a deadline wait on the agent's state."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from appliance.dirs import HqDir, TerminalDir
from appliance.store import Store
from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from provisioning.pki import PkiPaths
from tests.builders import EARLY_NOON, TEST_PIN, election_toml, insert_voters, open_station
from tests.integration.sync_env import VOTERS, Env

async def until(what: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Wait until ``what()`` holds, yielding to the loop in between; fail after the deadline."""
    async with asyncio.timeout(timeout_s):
        while not what():
            await asyncio.sleep(0.01)


def two_node_env(tmp: Path, port_a: int, port_b: int, election: str = "sync-two") -> Env:
    """sync_env.make_env's site, with ``[hq] addresses`` naming both nodes."""
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "election.toml"
    one = f'address = "127.0.0.1:{port_a}"'
    text = election_toml(election_id=election, hq_address=f"127.0.0.1:{port_a}")
    assert one in text
    cfg.write_text(text.replace(one, f'addresses = ["127.0.0.1:{port_a}", "127.0.0.1:{port_b}"]'), "utf-8")
    clock = FixedClock(EARLY_NOON)
    hq = HqDir(tmp / "hq")
    hq_init(hq.root, cfg, clock)
    env = Env(tmp, port_a, hq, clock)
    out = tmp / "T01"
    enroll_local(hq.root, "T01", "E01", out, clock, pin=TEST_PIN)
    open_station(TerminalDir(out))
    store = Store(TerminalDir(out).store_path)
    insert_voters(store, VOTERS)
    store.close()
    env.terminals["T01"] = TerminalDir(out)
    return env


def node_with_own_cert(hq: HqDir, root: Path, name: str) -> HqDir:
    """A copy of HQ's directory (its store as replicated to another machine) whose TLS certificate
    and key are its own: issued by the election CA for ``name``."""
    shutil.copytree(hq.root, root)
    p = PkiPaths(HqDir(root).pki)
    ca_key = serialization.load_pem_private_key(p.ca_key.read_bytes(), None)
    ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    p.hq_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    p.hq_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    assert cert.fingerprint(hashes.SHA256()) != x509.load_pem_x509_certificate(
        PkiPaths(hq.pki).hq_cert.read_bytes()).fingerprint(hashes.SHA256())
    return HqDir(root)
