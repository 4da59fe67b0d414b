"""``meibo hq add-node`` (hq/nodes.py): the second HQ node's directory holds what it needs to
verify terminals, sign and issue, and a TLS certificate of its own from the election CA for the
election's HQ name; never the first node's hq.key, never the SQLite store. A bad request leaves
nothing behind."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from appliance.dirs import HqDir
from ground.clock import FixedClock
from hq.server import HqNode
from hq.nodes import NodeInvalid, add_node, node_name_of, own_cert_differs
from hq.terminals import enroll_local, hq_init, read_terminals
from provisioning.pki import PkiPaths, hq_server_name
from tests.builders import EARLY_NOON, election_toml


@pytest.fixture
def hq(tmp_path: Path) -> HqDir:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(election_id="nodes-test", hq_address="10.0.0.1:8443"), "utf-8")
    hq_init(tmp_path / "hq", cfg, FixedClock(EARLY_NOON))
    enroll_local(tmp_path / "hq", "T01", "E01", tmp_path / "T01", FixedClock(EARLY_NOON))
    (tmp_path / "hq" / "hq.db").write_bytes(b"not to be copied")
    return HqDir(tmp_path / "hq")


def test_new_node_has_its_own_certificate_for_the_hq_name_issued_by_the_election_ca(
        hq: HqDir, tmp_path: Path) -> None:
    b = add_node(hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON), host="10.0.0.2:8443")
    pa, pb = PkiPaths(hq.pki), PkiPaths(b.pki)
    assert own_cert_differs(hq, b)
    cert = x509.load_pem_x509_certificate(pb.hq_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(pb.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)  # raises if the election CA did not sign it
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert hq_server_name("nodes-test") in sans.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"10.0.0.1", "10.0.0.2"}
    assert pb.hq_key.stat().st_mode & 0o077 == 0 and pb.ca_key.stat().st_mode & 0o077 == 0
    # what it needs to verify, sign and issue, and the registry as it is now
    assert pb.ca_key.read_bytes() == pa.ca_key.read_bytes()
    assert b.roll_key.read_bytes() == hq.roll_key.read_bytes()
    assert b.config_path.read_bytes() == hq.config_path.read_bytes()
    assert [t["terminal"] for t in read_terminals(b)] == ["T01"]
    assert pb.crl.read_bytes() == pa.crl.read_bytes() and pb.issued.read_bytes() == pa.issued.read_bytes()
    assert not b.hq_db.exists()
    assert node_name_of(b) == "hq-b" and node_name_of(hq) is None
    assert json.loads((b.root / "node.json").read_text("utf-8"))["hq_cert_sha256"]


@pytest.mark.parametrize(("name", "code"), [("hq b", "node_name_invalid"), ("", "node_name_invalid")])
def test_bad_node_name_is_refused_and_leaves_nothing(hq: HqDir, tmp_path: Path, name: str, code: str) -> None:
    with pytest.raises(NodeInvalid) as e:
        add_node(hq, tmp_path / "hq-b", name, FixedClock(EARLY_NOON))
    assert e.value.code == code and "ノード名" in e.value.message
    assert not (tmp_path / "hq-b").exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".hq-b")] == []


def test_source_without_the_ca_key_is_refused_naming_the_file(hq: HqDir, tmp_path: Path) -> None:
    PkiPaths(hq.pki).ca_key.unlink()  # kept offline
    with pytest.raises(NodeInvalid) as e:
        add_node(hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    assert e.value.code == "node_source_incomplete" and "ca.key" in e.value.message
    assert not (tmp_path / "hq-b").exists()


def test_cli_add_node_answers_ok_in_json_and_refuses_a_non_empty_target(hq: HqDir, tmp_path: Path) -> None:
    run = [str(Path(sys.executable).parent / "meibo"), "hq", "add-node", str(hq.root)]
    out = subprocess.run(run + [str(tmp_path / "hq-b"), "--node-name", "hq-b", "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["code"] == "ok" and own_cert_differs(hq, HqDir(tmp_path / "hq-b"))
    again = subprocess.run(run + [str(tmp_path / "hq-b"), "--node-name", "hq-c", "--json"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and json.loads(again.stdout)["code"] == "dir_not_empty"


def test_a_node_made_by_add_node_leads_under_its_own_name(hq: HqDir, tmp_path: Path) -> None:
    b = add_node(hq, tmp_path / "hq-b", "hq-b", FixedClock(EARLY_NOON))
    node = HqNode(b)  # SQLite store here: the name is what matters
    try:
        assert node.node_name == "hq-b" and node.leadership.node == "hq-b"
    finally:
        asyncio.run(node.stop())
