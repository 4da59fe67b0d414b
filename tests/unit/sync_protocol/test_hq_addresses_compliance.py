"""特定通信 ② with two HQ nodes (issue 18): the terminal's peers are election.toml's ``[hq] addresses``
and nothing else (terminal.toml's enrolled address must be one of them), and an HQ machine may
listen on any one of the nodes' addresses but on no other address of that port."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from appliance import atrest
from appliance.dirs import TerminalDir
from ground.clock import FixedClock
from hq import compliance
from hq.terminals import enroll_local, hq_init
from tests.builders import EARLY_NOON, election_toml
from tests.security_helpers import fake_proc

NODES = 'addresses = ["10.20.0.1:8443", "10.20.0.2:8443"]'


def _evidence(rep: dict, n: int) -> tuple[str, str]:
    [c] = [c for c in rep["conditions"] if c["condition"] == n]
    return c["result"], "\n".join(c["evidence"])


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, TerminalDir, FixedClock]:
    monkeypatch.setenv(atrest.RUNTIME_ENV, str(tmp_path / "shm"))
    cfg = tmp_path / "election.toml"
    text = election_toml(election_id="cmp2", hq_address="10.20.0.1:8443")
    cfg.write_text(text.replace('address = "10.20.0.1:8443"', NODES)
                   + '\n[network]\nclosed_apn = "senkyo.closed.example"\n', "utf-8")
    clock = FixedClock(EARLY_NOON)
    hq_init(tmp_path / "hq", cfg, clock)
    enroll_local(tmp_path / "hq", "T01", "E01", tmp_path / "T01", clock, pin="2468")
    crl = x509.load_pem_x509_crl((tmp_path / "hq" / "pki" / "crl.pem").read_bytes())
    return tmp_path / "hq", TerminalDir(tmp_path / "T01"), FixedClock(crl.last_update_utc + timedelta(minutes=1))


def test_terminal_talks_to_its_two_nodes_only(site, tmp_path: Path) -> None:
    _, t, clock = site
    assert t.identity().hq_address == "10.20.0.1:8443"  # the first node names HQ at enrollment
    proc = fake_proc(tmp_path / "proc")
    result, ev = _evidence(compliance.run(t.root, clock, proc), 2)
    assert result == "PASS", ev
    assert "接続先は本部の 2 ノードだけ: 10.20.0.1:8443, 10.20.0.2:8443" in ev
    result, ev = _evidence(compliance.run(t.root, clock, proc), 4)
    assert "閉域網（非公開）: 10.20.0.1:8443" in ev and "閉域網（非公開）: 10.20.0.2:8443" in ev

    # a third peer in terminal.toml is not one of the nodes: ② fails
    ident = t.identity_path.read_text("utf-8")
    t.identity_path.write_text(ident.replace("10.20.0.1:8443", "10.20.0.3:8443"), "utf-8")
    result, ev = _evidence(compliance.run(t.root, clock, proc), 2)
    assert result == "FAIL" and "接続先が一致しません: terminal.toml 10.20.0.3:8443" in ev


def test_a_public_node_fails_four(site, tmp_path: Path) -> None:
    _, t, clock = site
    toml = t.config_path.read_text("utf-8")
    t.config_path.write_text(toml.replace("10.20.0.2:8443", "8.8.4.4:8443"), "utf-8")
    result, ev = _evidence(compliance.run(t.root, clock, fake_proc(tmp_path / "proc")), 4)
    assert result == "FAIL" and "本部のアドレスが公開アドレスです: 8.8.4.4:8443" in ev


def test_hq_listens_on_either_node_address_and_no_other(site, tmp_path: Path) -> None:
    hq, _, clock = site
    second = fake_proc(tmp_path / "proc-b", listen=["0200140A:20FB"])  # 10.20.0.2:8443, the second node
    result, ev = _evidence(compliance.run(hq, clock, second), 2)
    assert result == "PASS", ev
    assert "待受アドレスは閉域網: 10.20.0.1:8443" in ev and "待受アドレスは閉域網: 10.20.0.2:8443" in ev
    assert "ポート 8443 は設定のアドレスだけで待受" in ev
    other = fake_proc(tmp_path / "proc-x", listen=["0900140A:20FB"])  # 10.20.0.9:8443: not a node
    result, ev = _evidence(compliance.run(hq, clock, other), 2)
    assert result == "FAIL" and "設定外のアドレスで待ち受けています: 10.20.0.9" in ev
