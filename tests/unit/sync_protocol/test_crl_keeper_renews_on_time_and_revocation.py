"""The CRL keeper on real files with a clock moved by hand (no TLS here; the TLS side is
tests/integration/test_hq_crl_renewed_while_serving.py): nothing before half the lifetime,
a re-issue after it, one at a revocation, none with renewal off, and a serial once revoked
stays on every later CRL. Without the CA key it keeps the last CRL and says why."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import HqDir
from provisioning import pki
from provisioning.pki import CrlSettings
from hq.crl_keeper import CrlKeeper, read_status, renew_offline
from hq.store import update_registry
from tests.builders import election_toml

LIFE = timedelta(hours=24)


@pytest.fixture
def world(tmp_path: Path) -> tuple[HqDir, FixedClock]:
    clock = FixedClock(datetime.now(timezone.utc).replace(microsecond=0))
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(election_id="crlk", hq_address="10.20.0.1:8443"), "utf-8")
    hq_init(tmp_path / "hq", cfg, clock)
    for tid, st in (("T01", "E01"), ("T02", "E02")):
        enroll_local(tmp_path / "hq", tid, st, tmp_path / tid, clock)
    hq = HqDir(tmp_path / "hq")
    pki.write_crl(hq.pki, clock, set(), LIFE)
    return hq, clock


def test_renews_only_when_less_than_half_remains(world: tuple[HqDir, FixedClock]) -> None:
    hq, clock = world
    keeper = CrlKeeper(hq, CrlSettings(lifetime=LIFE), clock)
    start = clock.now()
    assert not keeper.check().issued
    clock.set(start + timedelta(hours=11, minutes=59))
    assert not keeper.check().issued
    clock.set(start + timedelta(hours=12, minutes=1))
    res = keeper.check()
    assert res.issued and res.reason == "half_life"
    assert res.info is not None and res.info.next_update == (start + timedelta(hours=36, minutes=1))
    assert not keeper.check().issued  # fresh again
    st = read_status(hq)
    assert st is not None and st["last_reason"] == "half_life" and st["lifetime_s"] == LIFE.total_seconds()


def test_revocation_is_listed_at_once_and_never_dropped(world: tuple[HqDir, FixedClock]) -> None:
    hq, clock = world
    keeper = CrlKeeper(hq, CrlSettings(lifetime=LIFE), clock)
    keeper.check()
    t02, = pki.serials_of_terminal(hq.pki, "T02")
    update_registry(hq, "T02", revoked=True, revoked_reason="紛失")
    res = keeper.check()
    assert res.issued and res.reason == "revocation" and res.info is not None and t02 in res.info.serials
    pki.write_crl(hq.pki, clock, {t02, 999}, LIFE)  # e.g. ``hq revoke`` in another process added one
    clock.set(clock.now() + timedelta(hours=13))
    res = keeper.check()
    assert res.issued and res.info is not None and res.info.serials == {t02, 999}


def test_renewal_off_lets_the_crl_lapse_but_still_lists_revocations(world: tuple[HqDir, FixedClock]) -> None:
    hq, clock = world
    keeper = CrlKeeper(hq, CrlSettings(lifetime=LIFE, renew=False), clock)
    clock.set(clock.now() + 2 * LIFE)
    res = keeper.check()
    assert not res.issued and res.reason is None
    update_registry(hq, "T01", revoked=True, revoked_reason="故障")
    assert keeper.check().reason == "revocation"


def test_without_the_ca_key_the_last_crl_stays_and_the_error_is_said(world: tuple[HqDir, FixedClock]) -> None:
    hq, clock = world
    before = (hq.pki / "crl.pem").read_bytes()
    (hq.pki / "ca.key").rename(hq.root / "ca.key.offline")
    clock.set(clock.now() + timedelta(hours=20))
    keeper = CrlKeeper(hq, CrlSettings(lifetime=LIFE), clock)
    res = keeper.check()
    assert not res.issued and res.error_code == "ca_key_missing" and res.error
    assert (hq.pki / "crl.pem").read_bytes() == before
    assert "選挙 CA の鍵がありません" in str((read_status(hq) or {}).get("last_error"))  # for compliance ①
    with pytest.raises(pki.PkiError) as e:
        renew_offline(hq, clock)
    assert e.value.code == "ca_key_missing"
    (hq.root / "ca.key.offline").rename(hq.pki / "ca.key")  # brought back: the next look renews
    assert keeper.check().issued and (read_status(hq) or {}).get("last_error") is None
