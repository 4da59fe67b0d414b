"""Issue 16 part 2: ``meibo hq enroll-local`` records the certificate serial it issues, and
``--replace`` revokes every earlier certificate of the terminal at once, on the CRL and in the
registry, so that neither an HQ restart nor a re-issue of the CRL brings one back. Entries
written before enroll-local recorded serials fall back to the CA's register of issued serials."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import HqDir, TerminalDir
from provisioning import pki
from hq.crl_keeper import renew_offline, serials_to_revoke
from hq.store import HqStore, read_registry
from tests.builders import EARLY_NOON, election_toml
from tests.security_helpers import meibo


@pytest.fixture
def hq(tmp_path: Path) -> HqDir:
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(election_id="reenroll", hq_address="10.20.0.1:8443"), "utf-8")
    hq_init(tmp_path / "hq", cfg, FixedClock(EARLY_NOON))
    return HqDir(tmp_path / "hq")


def cert_serial(tdir: Path) -> int:
    return x509.load_pem_x509_certificate((TerminalDir(tdir).tls / "client.pem").read_bytes()).serial_number


def entries(hq: HqDir, terminal: str) -> list[dict[str, Any]]:
    return [d for d in json.loads((hq.root / "terminals.json").read_text("utf-8")) if d["terminal"] == terminal]


def crl_serials(hq: HqDir) -> frozenset[int]:
    info = pki.read_crl(hq.pki)
    assert info is not None
    return info.serials


def as_before_the_fix(hq: HqDir) -> None:
    """terminals.json as enroll-local wrote it before: no serials, no provenance."""
    items = json.loads((hq.root / "terminals.json").read_text("utf-8"))
    for d in items:
        d.pop("tls_serials", None)
        d.pop("enrolled_by", None)
    (hq.root / "terminals.json").write_text(json.dumps(items), "utf-8")


def test_registry_lists_every_serial_issued(hq: HqDir, tmp_path: Path) -> None:
    clock = FixedClock(EARLY_NOON)
    live = {}
    for tid, st in (("T01", "E01"), ("T02", "E02")):
        enroll_local(hq.root, tid, st, tmp_path / tid, clock)
    for minutes in (1, 2):
        clock.set(EARLY_NOON + timedelta(minutes=minutes))  # the old directory is kept by its time
        enroll_local(hq.root, "T01", "E01", tmp_path / "T01", clock, replace=True)
    for tid in ("T01", "T02"):
        live[tid] = cert_serial(tmp_path / tid)
        mine = entries(hq, tid)
        issued = pki.serials_of_terminal(hq.pki, tid)
        assert {int(s) for d in mine for s in d["tls_serials"]} == issued  # every serial, whichever entry
        (current,) = [d for d in mine if not d["revoked"]]
        assert current["tls_serials"] == [live[tid]] and current["enrolled_by"] == "local"
        for d in mine:
            if d["revoked"]:  # each replaced identity lists every certificate before the live one
                assert set(d["tls_serials"]) == issued - {live[tid]} and d["revoked_reason"]
    assert len(pki.serials_of_terminal(hq.pki, "T01")) == 3
    assert read_registry(hq)["T01"].serials == (live["T01"],)


def test_replace_puts_every_earlier_serial_on_the_crl_at_once(hq: HqDir, tmp_path: Path) -> None:
    clock = FixedClock(EARLY_NOON)
    enroll_local(hq.root, "T01", "E01", tmp_path / "T01", clock)
    enroll_local(hq.root, "T02", "E02", tmp_path / "T02", clock)
    first = cert_serial(tmp_path / "T01")
    enroll_local(hq.root, "T01", "E01", tmp_path / "T01", clock, replace=True)
    second = cert_serial(tmp_path / "T01")
    clock.set(EARLY_NOON + timedelta(minutes=1))
    enroll_local(hq.root, "T01", "E01", tmp_path / "T01", clock, replace=True)
    now = cert_serial(tmp_path / "T01")
    other = cert_serial(tmp_path / "T02")
    assert {first, second} <= crl_serials(hq)  # written by the command itself, HQ not serving
    assert now not in crl_serials(hq) and other not in crl_serials(hq)
    assert {first, second} <= serials_to_revoke(hq) and not {now, other} & serials_to_revoke(hq)

    store = HqStore(hq)  # what a (re)starting HQ reads
    try:
        store.load()
        assert not store.certificate_current("T01", first) and not store.certificate_current("T01", second)
        assert store.certificate_current("T01", now) and store.certificate_current("T02", other)
    finally:
        store.close()

    # ``hq crl-renew`` keeps them; so does a re-issue from scratch (the registry is the record)
    renew_offline(hq, clock)
    assert {first, second} <= crl_serials(hq) and now not in crl_serials(hq)
    pki.PkiPaths(hq.pki).crl.unlink()
    renew_offline(hq, clock)
    assert {first, second} <= crl_serials(hq) and now not in crl_serials(hq)


def test_entry_from_before_the_fix_falls_back_to_the_ca_register(hq: HqDir, tmp_path: Path) -> None:
    clock = FixedClock(EARLY_NOON)
    enroll_local(hq.root, "T01", "E01", tmp_path / "T01", clock)
    old = cert_serial(tmp_path / "T01")
    as_before_the_fix(hq)
    enroll_local(hq.root, "T01", "E01", tmp_path / "T01", clock, replace=True)
    new = cert_serial(tmp_path / "T01")
    (was,) = [d for d in entries(hq, "T01") if d["revoked"]]
    assert was["tls_serials"] == [old]  # recorded now, from pki's register of issued certificates
    assert old in crl_serials(hq) and new not in crl_serials(hq)


def test_hq_revoke_records_every_serial_of_the_terminal(hq: HqDir, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    clock = FixedClock(EARLY_NOON)
    enroll_local(hq.root, "T01", "E01", tmp_path / "T01", clock)
    first = cert_serial(tmp_path / "T01")
    as_before_the_fix(hq)
    enroll_local(hq.root, "T01", "E01", tmp_path / "T01", clock, replace=True)
    second = cert_serial(tmp_path / "T01")
    rc, out = meibo(monkeypatch, capsys, "hq", "revoke", str(hq.root), "T01", "--reason", "紛失")
    assert rc == 0, out
    replaced, revoked = entries(hq, "T01")
    assert replaced["tls_serials"] == [first] and set(revoked["tls_serials"]) == {first, second}
    assert revoked["revoked"] and revoked["revoked_reason"] == "紛失"
    assert {first, second} <= crl_serials(hq)
