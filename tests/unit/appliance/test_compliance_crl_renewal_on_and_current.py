"""Compliance ① on HQ also asks whether the CRL will *stay* current: renewal on (HQ's status
file), the CA key present to sign it, not overdue (less than half its life left means HQ is not
renewing), and every revoked terminal listed. Each finding fails ① on its own."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hq import compliance
from ground.clock import FixedClock
from hq.terminals import enroll_local, hq_init
from appliance.dirs import HqDir
from provisioning import pki
from provisioning.pki import CrlSettings
from hq.crl_keeper import CrlKeeper, status_path
from hq.store import update_registry
from tests.builders import election_toml
from tests.security_helpers import fake_proc

LIFE = timedelta(days=2)


@pytest.fixture
def site(tmp_path: Path) -> tuple[HqDir, FixedClock, Path]:
    clock = FixedClock(datetime.now(timezone.utc).replace(microsecond=0))
    cfg = tmp_path / "election.toml"
    cfg.write_text(election_toml(election_id="cmpcrl", hq_address="10.20.0.1:8443")
                   + '\n[network]\nclosed_apn = "senkyo.closed.example"\n', "utf-8")
    hq_init(tmp_path / "hq", cfg, clock)
    enroll_local(tmp_path / "hq", "T01", "E01", tmp_path / "T01", clock)
    hq = HqDir(tmp_path / "hq")
    pki.write_crl(hq.pki, clock, set(), LIFE)
    return hq, clock, fake_proc(tmp_path / "proc")


def first(hq: HqDir, clock: FixedClock, proc: Path) -> tuple[str, str]:
    c1 = compliance.run(hq.root, clock, proc)["conditions"][0]
    return c1["result"], "\n".join(c1["evidence"])


def test_served_with_renewal_on_passes(site: tuple[HqDir, FixedClock, Path]) -> None:
    hq, clock, proc = site
    keeper = CrlKeeper(hq, CrlSettings(lifetime=LIFE), clock)
    keeper._write_status(clock, serving=True)
    result, ev = first(hq, clock, proc)
    assert result == "PASS", ev
    assert "OK  失効リストの自動更新が有効（寿命 2 日、残り 1 日を切ると再発行" in ev and "稼働中" in ev


def test_never_served_is_noted_not_failed(site: tuple[HqDir, FixedClock, Path]) -> None:
    hq, clock, proc = site
    result, ev = first(hq, clock, proc)
    assert result == "PASS" and "まだ失効リストの自動更新を始めていません" in ev, ev


def test_renewal_off_fails(site: tuple[HqDir, FixedClock, Path]) -> None:
    hq, clock, proc = site
    CrlKeeper(hq, CrlSettings(lifetime=LIFE, renew=False), clock)._write_status(clock, serving=True)
    result, ev = first(hq, clock, proc)
    assert result == "FAIL" and "NG  失効リストの自動更新が無効です" in ev, ev


def test_overdue_renewal_fails_before_the_crl_lapses(site: tuple[HqDir, FixedClock, Path]) -> None:
    hq, clock, proc = site
    CrlKeeper(hq, CrlSettings(lifetime=LIFE), clock)._write_status(clock, serving=False)
    later = FixedClock(clock.now() + timedelta(hours=23))
    assert first(hq, later, proc)[0] == "PASS"
    later = FixedClock(clock.now() + timedelta(hours=25))
    result, ev = first(hq, later, proc)
    assert result == "FAIL" and "再発行が遅れています（残り 23 時間" in ev and "本部サーバ停止中" in ev, ev


def test_missing_ca_key_and_unlisted_revocation_fail(site: tuple[HqDir, FixedClock, Path]) -> None:
    hq, clock, proc = site
    update_registry(hq, "T01", revoked=True, revoked_reason="紛失")  # the registry only, no CRL written
    result, ev = first(hq, clock, proc)
    assert result == "FAIL" and "失効させた端末の証明書 1 件が失効リストにありません" in ev, ev
    CrlKeeper(hq, CrlSettings(lifetime=LIFE), clock).check()  # HQ lists it
    assert first(hq, clock, proc)[0] == "PASS"
    (hq.pki / "ca.key").rename(hq.root / "ca.key.offline")
    result, ev = first(hq, clock, proc)
    assert result == "FAIL" and "選挙 CA の鍵が本部にないため" in ev, ev


def test_an_error_reported_by_the_serving_hq_fails(site: tuple[HqDir, FixedClock, Path]) -> None:
    hq, clock, proc = site
    status_path(hq).write_text(json.dumps({"renew": True, "lifetime_s": LIFE.total_seconds(), "serving": True,
                                           "last_error": "失効リストを再発行できません"}), "utf-8")
    result, ev = first(hq, clock, proc)
    assert result == "FAIL" and "自動更新でエラー" in ev, ev
