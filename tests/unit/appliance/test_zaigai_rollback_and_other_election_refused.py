"""An older or equal 在外 version, or another election's 在外 roll, is refused after the signature
verifies and before anything changes; a newer one replaces roll, version and designated stations."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import procedures as P
from ground.errors import RollRejected
from appliance.store import Store
from appliance.zaigaipkg import open_zaigai_package
from tests.builders import terminal_dir
from tests.builders_zaigai import GOOD, MORE, make_hq, publish_csv, terminal_snapshot


def _install(tdir, data: bytes) -> P.ZaigaiInstall:  # type: ignore[no-untyped-def]
    store = Store(tdir.store_path)
    try:
        return P.install_zaigai(store, open_zaigai_package(data, tdir.hq_roll_pub.read_bytes()), "yokohama-2027")
    finally:
        store.close()


def test_rollback_and_reinstall_refused_newer_replaces(tmp_path: Path) -> None:
    hq = make_hq(tmp_path / "hq")
    tdir = terminal_dir(tmp_path / "t", station="D01")
    v1 = publish_csv(hq, tmp_path, GOOD)
    v2 = publish_csv(hq, tmp_path, MORE, designated=["D01"])
    v3 = publish_csv(hq, tmp_path, GOOD)
    assert _install(tdir, v2).designated == ("D01",)
    before = terminal_snapshot(tdir)
    assert len(before["zaigai"]) == 3
    for old in (v1, v2):
        with pytest.raises(RollRejected) as e:
            _install(tdir, old)
        assert e.value.code == "zaigai_rollback" and "古い在外選挙人名簿" in e.value.message
    assert terminal_snapshot(tdir) == before
    res = _install(tdir, v3)
    assert (res.version, res.previous_version, res.voters, res.designated) == (3, 2, 2, ())
    store = Store(tdir.store_path)
    try:
        assert P.installed_zaigai_version(store) == 3
        assert store.conn.execute("SELECT count(*) FROM zaigai_voters").fetchone()[0] == 2
        assert store.get_meta(P.META_ZAIGAI_DESIGNATED) == ""
        assert store.get_meta("roll_version") is None  # the main roll's version is not the 在外 one
    finally:
        store.close()


def test_other_election_refused(tmp_path: Path) -> None:
    other = make_hq(tmp_path / "hq", election_id="kawasaki-2027")
    tdir = terminal_dir(tmp_path / "t", station="E01")
    data = publish_csv(other, tmp_path)
    before = terminal_snapshot(tdir)
    with pytest.raises(RollRejected) as e:
        _install(tdir, data)
    assert e.value.code == "zaigai_other_election" and "kawasaki-2027" in e.value.message
    assert terminal_snapshot(tdir) == before


def test_test_builder_installs_through_the_signed_path(tmp_path: Path) -> None:
    from tests.builders_zaigai import install_signed

    tdir = terminal_dir(tmp_path / "t", station="D01")
    store = Store(tdir.store_path)
    try:
        assert install_signed(store, GOOD, ["D01"]) == 1
        assert install_signed(store, MORE) == 2
        assert store.conn.execute("SELECT count(*) FROM zaigai_voters").fetchone()[0] == 3
        with pytest.raises(RollRejected):
            install_signed(store, GOOD, version=2)
    finally:
        store.close()
