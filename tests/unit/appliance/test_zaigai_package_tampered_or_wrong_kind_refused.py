"""A 在外 package is trusted only as HQ signed it: a flipped byte anywhere, another key, the main
roll given to ``install-zaigai`` or a 在外 package given to ``install-roll`` are refused, and the
terminal's store is exactly as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from ground.errors import RollRejected, RollSignatureInvalid
from hq.roll import import_roll, publish
from appliance.rollpkg import open_package
from appliance.rollinstall import install_package
from appliance.store import Store
from appliance.zaigaipkg import open_zaigai_package
from tests.builders import terminal_dir
from tests.builders_roll import NOW, write_csv
from tests.builders_zaigai import MORE, make_hq, publish_csv, terminal_snapshot


@pytest.fixture()
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    hq = make_hq(tmp_path / "hq")
    tdir = terminal_dir(tmp_path / "t", station="E01")
    zaigai = publish_csv(hq, tmp_path)
    import_roll(hq, write_csv(tmp_path / "roll.csv"), NOW)
    main_roll = publish(hq, tmp_path / "r1.mbr", NOW).path.read_bytes()
    (tmp_path / "z1.mbr").write_bytes(zaigai)
    assert main(["terminal", "install-zaigai", str(tdir.root), str(tmp_path / "z1.mbr")]) == 0
    return hq, tdir, zaigai, main_roll


def test_flipped_byte_anywhere_refused_store_unchanged(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hq, tdir, _, _ = setup
    newer = publish_csv(hq, tmp_path, MORE)  # version 2: would be installed if it verified
    pub = tdir.hq_roll_pub.read_bytes()
    before = terminal_snapshot(tdir)
    positions = sorted({0, 8, 10, 14, len(newer) // 2, len(newer) - 1} | set(range(0, len(newer), len(newer) // 30)))
    for pos in positions:
        bad = bytearray(newer)
        bad[pos] ^= 0x20
        with pytest.raises(RollSignatureInvalid) as e:
            open_zaigai_package(bytes(bad), pub)
        assert e.value.code == "roll_signature_invalid"
    for bad in (newer[:-1], newer + b"\0", b""):
        with pytest.raises(RollSignatureInvalid):
            open_zaigai_package(bad, pub)
    # and by command: the exit status says no, the store is untouched
    bad = bytearray(newer)
    bad[len(newer) // 2] ^= 1
    (tmp_path / "bad.mbr").write_bytes(bytes(bad))
    assert main(["terminal", "install-zaigai", str(tdir.root), str(tmp_path / "bad.mbr"), "--json"]) != 0
    assert terminal_snapshot(tdir) == before


def test_other_key_refused(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, tdir, _, _ = setup
    import hashlib

    forger = make_hq(tmp_path / "forger", seed=hashlib.sha256(b"not-hq").digest())
    forged = publish_csv(forger, tmp_path, MORE)
    before = terminal_snapshot(tdir)
    (tmp_path / "f.mbr").write_bytes(forged)
    assert main(["terminal", "install-zaigai", str(tdir.root), str(tmp_path / "f.mbr")]) != 0
    assert terminal_snapshot(tdir) == before


def test_main_roll_refused_by_install_zaigai(setup, tmp_path: Path,  # type: ignore[no-untyped-def]
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _, tdir, _, main_roll = setup
    with pytest.raises(RollRejected) as e:
        open_zaigai_package(main_roll, tdir.hq_roll_pub.read_bytes())
    assert e.value.code == "package_wrong_kind" and "選挙人名簿のパッケージです" in e.value.message
    before = terminal_snapshot(tdir)
    (tmp_path / "r.mbr").write_bytes(main_roll)
    capsys.readouterr()
    assert main(["terminal", "install-zaigai", str(tdir.root), str(tmp_path / "r.mbr"), "--json"]) != 0
    assert json.loads(capsys.readouterr().out)["code"] == "package_wrong_kind"
    assert terminal_snapshot(tdir) == before


def test_zaigai_package_refused_as_main_roll(setup, tmp_path: Path,  # type: ignore[no-untyped-def]
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _, tdir, zaigai, main_roll = setup
    pub = tdir.hq_roll_pub.read_bytes()
    with pytest.raises(RollRejected) as e:
        open_package(zaigai, pub)
    assert e.value.code == "package_wrong_kind" and "在外選挙人名簿のパッケージです" in e.value.message
    before = terminal_snapshot(tdir)
    store = Store(tdir.store_path)
    try:
        with pytest.raises(RollRejected):
            install_package(store, zaigai, pub, "yokohama-2027")
    finally:
        store.close()
    (tmp_path / "z.mbr").write_bytes(zaigai)
    capsys.readouterr()
    assert main(["terminal", "install-roll", str(tdir.root), str(tmp_path / "z.mbr"), "--json"]) != 0
    assert json.loads(capsys.readouterr().out)["code"] == "package_wrong_kind"
    assert terminal_snapshot(tdir) == before
    # the main roll itself still installs through its own path
    (tmp_path / "r.mbr").write_bytes(main_roll)
    assert main(["terminal", "install-roll", str(tdir.root), str(tmp_path / "r.mbr")]) == 0
