"""`meibo compliance`: the four 特定通信 conditions (and data at rest) with evidence, PASS/FAIL,
non-zero exit on any FAIL; facts from a fake /proc; the real /proc gives the same structure."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from appliance import atrest
from hq import compliance
from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import TerminalDir
from tests.builders import EARLY_NOON, election_toml
from tests.security_helpers import fake_proc, meibo


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, TerminalDir, str]:
    monkeypatch.setenv(atrest.RUNTIME_ENV, str(tmp_path / "shm"))
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(election_id="cmp", hq_address="10.20.0.1:8443")
                   + '\n[network]\nclosed_apn = "senkyo.closed.example"\n', "utf-8")
    clock = FixedClock(EARLY_NOON)
    hq_init(tmp_path / "hq", cfg, clock)
    enroll_local(tmp_path / "hq", "T01", "E01", tmp_path / "T01", clock, pin="2468")
    crl = x509.load_pem_x509_crl((tmp_path / "hq" / "pki" / "crl.pem").read_bytes())
    now = (crl.last_update_utc + timedelta(minutes=1)).isoformat()  # a moment the CRL is current
    return tmp_path / "hq", TerminalDir(tmp_path / "T01"), now


def results(report: dict) -> dict[int, str]:
    return {c["condition"]: c["result"] for c in report["conditions"]}


def test_closed_network_terminal_and_hq_pass(site: tuple[Path, TerminalDir, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    hq, t, now = site
    proc = fake_proc(tmp_path / "proc")
    rc, out = meibo(monkeypatch, capsys, "compliance", str(t.root), "--proc-root", str(proc), "--now", now)
    assert rc == 0 and out["code"] == "ok" and out["kind"] == "terminal", out
    assert results(out) == {1: "PASS", 2: "PASS", 3: "PASS", 4: "PASS", 5: "PASS"}
    ev = "\n".join(e for c in out["conditions"] for e in c["evidence"])
    for needle in ("既定経路なし", "ネットワークの待受なし", "TLS 1.3 のみ", "AEAD", "OP_NO_TICKET",
                   "senkyo.closed.example", "SQLCipher", "選挙 CA の発行"):
        assert needle in ev, needle
    assert "127.0.0.1:57721" in ev  # the loopback listener is listed as evidence, not a failure

    rc, out = meibo(monkeypatch, capsys, "compliance", str(hq), "--proc-root", str(proc), "--now", now)
    assert rc == 0 and out["kind"] == "hq" and results(out) == {1: "PASS", 2: "PASS", 3: "PASS", 4: "PASS"}, out
    ev = "\n".join(e for c in out["conditions"] for e in c["evidence"])
    assert "CERT_REQUIRED" in ev and "num_tickets = 0" in ev and "VERIFY_CRL_CHECK_LEAF" in ev


def test_default_route_public_address_and_listener_fail(site: tuple[Path, TerminalDir, str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    hq, t, now = site
    proc = fake_proc(tmp_path / "proc", default_route=True, public_v4="8.8.4.4",
                     listen=["00000000:0016"])
    rc, out = meibo(monkeypatch, capsys, "compliance", str(t.root), "--proc-root", str(proc), "--now", now)
    assert rc == 1 and out["code"] == "noncompliant"
    r = results(out)
    assert r[4] == "FAIL" and r[2] == "FAIL" and r[1] == "PASS" and r[3] == "PASS"
    ev = "\n".join(e for c in out["conditions"] for e in c["evidence"])
    assert "既定経路があります: 0.0.0.0/0 via 10.20.0.1 dev wwan0" in ev
    assert "公開アドレスがあります: 8.8.4.4" in ev and "tcp 0.0.0.0:22" in ev


def test_stale_crl_loopback_hq_missing_apn_and_plain_store_fail(site: tuple[Path, TerminalDir, str],
                                                               tmp_path: Path) -> None:
    hq, t, now = site
    proc = fake_proc(tmp_path / "proc")
    late = FixedClock(datetime.fromisoformat(now) + timedelta(days=400))
    r = results(compliance.run(hq, late, proc))
    assert r[1] == "FAIL"  # the revocation list is no longer current
    toml = (hq / "election.toml").read_text("utf-8")
    (hq / "election.toml").write_text(toml.replace("10.20.0.1:8443", "127.0.0.1:8443")
                                      .replace('closed_apn = "senkyo.closed.example"', ""), "utf-8")
    rep = compliance.run(hq, FixedClock(datetime.fromisoformat(now)), proc)
    assert results(rep)[2] == "FAIL" and results(rep)[4] == "FAIL"
    atrest.destroy_sealed(t)  # as if enrolled without a PIN
    assert results(compliance.run(t.root, FixedClock(datetime.fromisoformat(now)), proc))[5] == "FAIL"


def test_real_proc_gives_the_same_structure(site: tuple[Path, TerminalDir, str]) -> None:
    hq, t, now = site
    for target, n in ((t.root, 5), (hq, 4)):
        rep = compliance.run(target, FixedClock(datetime.fromisoformat(now)))
        assert [c["condition"] for c in rep["conditions"]] == list(range(1, n + 1))
        assert all(c["result"] in ("PASS", "FAIL") and c["evidence"] for c in rep["conditions"])
        assert rep["code"] == ("ok" if all(c["result"] == "PASS" for c in rep["conditions"]) else "noncompliant")
        assert "/proc/net/route" in rep["sources"]
    # this development machine has a default route: ④ must say so honestly
    routes = compliance.parse_route_v4(Path("/proc/net/route").read_text())
    if any(r.is_default for r in routes):
        assert results(compliance.run(t.root, FixedClock(datetime.fromisoformat(now))))[4] == "FAIL"


def test_proc_parsers_read_kernel_formats() -> None:
    assert compliance.parse_sockets(
        "h\n   0: 0100007F:E179 00000000:0000 0A 0 0 0 0 0\n   1: 00000000:07E8 00000000:0000 0A 0\n", "tcp") == [
        compliance.Listener("tcp", compliance.ipaddress.IPv4Address("127.0.0.1"), 0xE179),
        compliance.Listener("tcp", compliance.ipaddress.IPv4Address("0.0.0.0"), 2024)]
    v6 = compliance.parse_route_v6("00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                                   "fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n")
    assert v6 and v6[0].is_default and v6[0].gateway == "fd00::1"
    assert [str(a) for a in compliance.parse_fib_trie(
        "  |-- 192.0.2.2\n     /32 host LOCAL\n  |-- 192.0.2.255\n     /32 link BROADCAST\n")] == ["192.0.2.2"]
