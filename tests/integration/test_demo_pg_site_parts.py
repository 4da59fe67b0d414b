"""The parts ``meibo demo --store postgresql`` is built from (issue 18, tooling/demo_pg.py), on real
servers: the demo's HQ moved onto a PostgreSQL pair, a second node with a certificate of its own
for the election's HQ name, the primary killed and the standby promoted with the records intact,
and nothing left behind."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from appliance.dirs import HqDir
from ground.clock import SystemClock
from hq.nodes import add_node
from hq.store import HqStore
from provisioning.pki import PkiPaths, hq_server_name
from tooling.demo_day import ELECTION_DAY, election_toml, plan_stations
from tooling.demo_pg import PgDemoSite, with_addresses
from tooling.meibo_process import run_meibo


def _cert(hq: HqDir) -> x509.Certificate:
    return x509.load_pem_x509_certificate(PkiPaths(hq.pki).hq_cert.read_bytes())


def test_demo_hq_moved_to_the_pair_survives_the_primary_killed_and_nothing_is_left(tmp_path: Path) -> None:
    plan = plan_stations(4)
    cfg = tmp_path / "election.toml"
    cfg.write_text(with_addresses(election_toml(plan, 7001), ["127.0.0.1:7001", "127.0.0.1:7002"]), "utf-8")
    hq = HqDir(tmp_path / "hq")
    run_meibo(["hq", "init", str(hq.root), "--config", str(cfg)])
    roll = tmp_path / "roll.csv"  # as the demo does before its nodes serve
    run_meibo(["synth-roll", "--voters", "200", "--seed", "1", "--out", str(roll), "--election-day", str(ELECTION_DAY)])
    run_meibo(["roll", "import", str(hq.root), str(roll)])
    run_meibo(["roll", "publish", str(hq.root), "--out", str(tmp_path / "roll-v1.pkg"), "--full"])
    said: list[str] = []
    site = PgDemoSite.start(said.append)
    try:
        site.migrate(hq)
        b = add_node(hq, tmp_path / "hq-b", "hq-b", SystemClock(), host="127.0.0.1:7002")  # as demo_pg does
        assert not (b.root / "hq.db").exists()  # the nodes share the PostgreSQL store
        name = hq_server_name(hq.config().election_id)
        ca, cb = _cert(hq), _cert(b)
        assert cb.fingerprint(hashes.SHA256()) != ca.fingerprint(hashes.SHA256())  # a key of its own
        sans = cb.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert name in sans.get_values_for_type(x509.DNSName)
        assert b.config().hq_addresses == ("127.0.0.1:7001", "127.0.0.1:7002")

        site.fail_primary()
        assert site.primary.pid() is None and site.standby.accepts_writes()
        assert any("運用者が待機系データベースを昇格" in s for s in said)
        store = HqStore(b, store_url=site.dsn)  # the second node opens the store on the promoted node
        try:
            assert store.load().checkins == {} and store.url.backend == "postgresql"
        finally:
            store.close()
    finally:
        site.close()
    assert not site.base.exists()
