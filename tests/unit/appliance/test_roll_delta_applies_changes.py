"""A later publish carries only the changes (抹消, 追加, 訂正, removal) and installs to the same
roll a full package of the same data gives; --full forces a full package."""

from pathlib import Path

import pytest

from hq.roll import RollUnchanged, import_roll, publish, versions
from appliance.rollpkg import decode_package
from appliance.rollinstall import install_package
from appliance.store import Store
from tests.builders_roll import BASE_ROWS, NOW, make_terminal, make_pair, store_snapshot, write_csv

EID = "yokohama-2027"


def _install(tdir_store: Path, pkg: Path, pub: bytes) -> None:
    s = Store(tdir_store)
    try:
        install_package(s, pkg.read_bytes(), pub, EID)
    finally:
        s.close()


def _changed_rows() -> list[list[str]]:
    rows = [list(r) for r in BASE_ROWS]
    rows[0] = rows[0][:7] + ["抹消"]  # 抹消
    rows[1][6] = "横浜市中区本町9-9"  # 訂正 (address)
    del rows[4]  # no longer on the roll
    rows.append(["0000000006", "4", "新井 美咲", "アライ ミサキ", "2005-06-01", "女", "横浜市旭区若葉台1-1"])  # 追加
    return rows


def test_delta_then_full_reach_the_same_roll(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    pub = pair.hq.roll_pub.read_bytes()
    import_roll(pair.hq, write_csv(tmp_path / "v1.csv"), NOW)
    publish(pair.hq, tmp_path / "v1.mbr", NOW)
    _install(pair.terminal.store_path, tmp_path / "v1.mbr", pub)

    import_roll(pair.hq, write_csv(tmp_path / "v2.csv", _changed_rows()), NOW)
    res = publish(pair.hq, tmp_path / "v2.mbr", NOW)
    assert res.manifest.kind == "delta" and res.manifest.base_version == 1 and res.manifest.version == 2
    _, ops = decode_package((tmp_path / "v2.mbr").read_bytes(), pub)
    assert [(op, p.split("\t")[0]) for op, p in ops] == [
        ("+", "0000000001"), ("+", "0000000002"), ("-", "0000000005"), ("+", "0000000006")]
    _install(pair.terminal.store_path, tmp_path / "v2.mbr", pub)

    full = publish(pair.hq, tmp_path / "v3.mbr", NOW, full=True)
    assert full.manifest.kind == "full" and full.manifest.version == 3 and full.manifest.row_count == 5
    other = make_terminal(tmp_path / "t2", pair.hq)
    _install(other.store_path, tmp_path / "v3.mbr", pub)
    assert store_snapshot(pair.terminal.store_path)["voters"] == store_snapshot(other.store_path)["voters"]

    got = {r[0]: r for r in store_snapshot(pair.terminal.store_path)["voters"]}
    assert got["0000000001"][8] == "deleted"
    assert got["0000000002"][7] == "横浜市中区本町9-9"
    assert "0000000005" not in got and got["0000000006"][3] == "アライ ミサキ"
    assert [v["version"] for v in versions(pair.hq)] == [1, 2, 3]
    assert (pair.hq.rolls / "roll-v0002-delta.mbr").exists()


def test_publish_without_changes_refused(tmp_path: Path) -> None:
    pair = make_pair(tmp_path)
    import_roll(pair.hq, write_csv(tmp_path / "v1.csv"), NOW)
    publish(pair.hq, tmp_path / "v1.mbr", NOW)
    with pytest.raises(RollUnchanged):
        publish(pair.hq, tmp_path / "v2.mbr", NOW)
    assert not (tmp_path / "v2.mbr").exists() and not (pair.hq.rolls / "roll-v0002-delta.mbr").exists()
    assert [v["version"] for v in versions(pair.hq)] == [1]


def test_bad_import_keeps_previous_roll(tmp_path: Path) -> None:
    from ground.errors import RollInvalid
    pair = make_pair(tmp_path)
    import_roll(pair.hq, write_csv(tmp_path / "v1.csv"), NOW)
    rows = _changed_rows() + [["0000000007", "1", "x", "山田", "1985-04-01", "男", "y"]]  # kanji in kana
    with pytest.raises(RollInvalid):
        import_roll(pair.hq, write_csv(tmp_path / "bad.csv", rows), NOW)
    res = publish(pair.hq, tmp_path / "v1.mbr", NOW)
    assert res.manifest.row_count == 5
    _, ops = decode_package((tmp_path / "v1.mbr").read_bytes(), pair.hq.roll_pub.read_bytes())
    assert "\t登録" not in ops[0][1] and ops[0][1].split("\t")[7] == "registered"  # v1's row 1, not v2's 抹消
