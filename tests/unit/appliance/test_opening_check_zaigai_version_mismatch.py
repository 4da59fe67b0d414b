"""Opening check and the 在外選挙人名簿: a version other than HQ's is red and names both versions,
like the main roll; an early station must hold HQ's 在外 roll; a day station that holds none is
not asked to; an HQ that does not say its 在外 version is not compared against."""

from __future__ import annotations

from pathlib import Path

from appliance import procedures as P
from ground.clock import FixedClock
from appliance.store import Store
from appliance.terminal import Terminal
from appliance.zaigaipkg import open_zaigai_package
from tests.builders import EARLY_NOON, terminal_dir
from tests.builders_zaigai import make_hq, publish_csv

C = ("shu", "governor")


def _local(zaigai: int | None, early: bool = True) -> P.VersionInfo:
    return P.VersionInfo("yokohama-2027", C, 3, zaigai, early)


def _hq(zaigai: int | None) -> P.VersionInfo:
    return P.VersionInfo("yokohama-2027", C, 3, zaigai)


def test_zaigai_mismatch_is_red_and_names_both() -> None:
    chk = P.opening_check(_local(1), _hq(2))
    assert chk.status == "mismatch" and chk.codes == ("zaigai_version_mismatch",)
    text = chk.text()
    assert "在外選挙人名簿の版が違います（この端末: 第1版、本部: 第2版）" in text
    assert "在外選挙人名簿 第1版" in text and "在外選挙人名簿 第2版" in text and text.startswith("×")


def test_early_station_without_hqs_zaigai_roll_is_red() -> None:
    chk = P.opening_check(_local(None), _hq(2))
    assert chk.codes == ("zaigai_version_mismatch",) and "この端末: 未導入、本部: 第2版" in chk.text()


def test_agreement_and_nothing_published() -> None:
    assert P.opening_check(_local(2), _hq(2)).ok
    assert P.opening_check(_local(None), _hq(0)).ok  # HQ published none, the station holds none
    assert P.opening_check(_local(None, early=False), _hq(2)).ok  # a day station needs none
    assert P.opening_check(_local(1, early=False), _hq(2)).codes == ("zaigai_version_mismatch",)  # holds one: current
    assert P.opening_check(_local(1), _hq(None)).ok  # an older HQ: not known, not compared
    assert P.opening_check(_local(1), None).status == "unchecked"


def test_both_rolls_mismatched_are_both_named() -> None:
    chk = P.opening_check(_local(1), P.VersionInfo("yokohama-2027", C, 4, 2))
    assert chk.codes == ("roll_version_mismatch", "zaigai_version_mismatch")


def test_local_versions_reads_the_installed_zaigai_version(tmp_path: Path) -> None:
    hq = make_hq(tmp_path / "hq")
    tdir = terminal_dir(tmp_path / "t", station="E01")
    with Terminal(tdir, FixedClock(EARLY_NOON)) as t:
        v = P.local_versions(t)
        assert (v.zaigai_version, v.zaigai_required) == (None, True)
    publish_csv(hq, tmp_path)
    data = publish_csv(hq, tmp_path, designated=["D01"])  # version 2
    store = Store(tdir.store_path)
    try:
        P.install_zaigai(store, open_zaigai_package(data, tdir.hq_roll_pub.read_bytes()), "yokohama-2027")
    finally:
        store.close()
    with Terminal(tdir, FixedClock(EARLY_NOON)) as t:
        assert P.local_versions(t).zaigai_version == 2
    day = terminal_dir(tmp_path / "d", station="D01")
    with Terminal(day, FixedClock(EARLY_NOON)) as t:
        assert P.local_versions(t).zaigai_required is False
