"""HQ's 在外 import is all or nothing: a bad CSV (every problem named by file, row and column), an
unknown designated station or an unreadable file leave HQ's 在外 roll, stations and versions as
they were; publishing needs an import and a change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from ground.errors import RollInvalid, UsageError
from hq.roll import ZaigaiNotImported, ZaigaiUnchanged, import_zaigai, publish_zaigai, \
    published_zaigai_version
from tests.builders_roll import NOW
from tests.builders_zaigai import GOOD, HEAD, hq_snapshot, make_hq, write_zaigai_csv


def test_bad_csv_named_and_nothing_changed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hq = make_hq(tmp_path / "hq")
    import_zaigai(hq, write_zaigai_csv(tmp_path / "good.csv"), ["D01"], NOW)
    publish_zaigai(hq, None, NOW)
    before = hq_snapshot(hq)
    bad = write_zaigai_csv(tmp_path / "bad.csv", GOOD + "900009,A1234567,佐藤,サトウ,1970-02-30,男,横浜,米国,登録\n")
    with pytest.raises(RollInvalid) as e:
        import_zaigai(hq, bad, [], NOW)
    assert {(p.file, p.row, p.column) for p in e.value.problems} == {
        (str(bad), 4, "在外選挙人証番号"), (str(bad), 4, "生年月日")}
    assert hq_snapshot(hq) == before
    capsys.readouterr()
    assert main(["hq", "zaigai-import", str(hq.root), str(bad), "--json"]) != 0
    out = json.loads(capsys.readouterr().out)
    assert out["code"] == "zaigai_invalid" and {p["row"] for p in out["problems"]} == {4}
    assert "在外選挙人証番号が重複しています" in out["message"]
    assert hq_snapshot(hq) == before


def test_unknown_station_unreadable_file_and_bad_header(tmp_path: Path) -> None:
    hq = make_hq(tmp_path / "hq")
    import_zaigai(hq, write_zaigai_csv(tmp_path / "good.csv"), [], NOW)
    before = hq_snapshot(hq)
    with pytest.raises(UsageError) as e:
        import_zaigai(hq, write_zaigai_csv(tmp_path / "good.csv"), ["X99"], NOW)
    assert e.value.code == "station_unknown" and "X99" in e.value.message
    with pytest.raises(UsageError) as e:
        import_zaigai(hq, tmp_path / "missing.csv", [], NOW)
    assert e.value.code == "file_unreadable"
    with pytest.raises(RollInvalid) as ei:
        import_zaigai(hq, write_zaigai_csv(tmp_path / "h.csv", "番号\n1\n"), [], NOW)
    assert ei.value.code == "zaigai_header"
    (tmp_path / "sjis.csv").write_bytes((HEAD + "900001,A1234567,鈴木,スズキ,1975-05-05,男,横浜,米国,登録\n").encode("cp932"))
    with pytest.raises(RollInvalid) as ei:
        import_zaigai(hq, tmp_path / "sjis.csv", [], NOW)
    assert ei.value.code == "zaigai_encoding"
    assert hq_snapshot(hq) == before


def test_publish_needs_an_import_and_a_change(tmp_path: Path) -> None:
    hq = make_hq(tmp_path / "hq")
    assert published_zaigai_version(hq) == 0
    with pytest.raises(ZaigaiNotImported):
        publish_zaigai(hq, None, NOW)
    import_zaigai(hq, write_zaigai_csv(tmp_path / "good.csv"), [], NOW)
    r1 = publish_zaigai(hq, tmp_path / "out.mbr", NOW)
    assert r1.manifest.version == 1 and (tmp_path / "out.mbr").read_bytes() == r1.path.read_bytes()
    with pytest.raises(ZaigaiUnchanged):
        publish_zaigai(hq, None, NOW)
    assert not (hq.rolls / "zaigai-v0002.mbr").exists()
    import_zaigai(hq, write_zaigai_csv(tmp_path / "good.csv"), ["C01"], NOW)  # only the stations change
    assert publish_zaigai(hq, None, NOW).manifest.version == 2 == published_zaigai_version(hq)
