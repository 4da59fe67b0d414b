"""在外選挙人名簿: check-in of national contests only at early or designated stations, 在外選挙人証
number checked, a second visit hard-stopped, the designated stations taken from HQ's signed package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance import procedures as P
from cli.main import main
from ground.clock import FixedClock
from ground.errors import RollInvalid
from appliance.store import Store
from appliance.terminal import Terminal
from appliance.zaigaipkg import open_zaigai_package
from tests.builders import EARLY_NOON, ELECTION_NOON, terminal_dir
from tests.builders_zaigai import GOOD, HEAD, make_hq, publish_csv, write_zaigai_csv


def test_every_problem_named_and_nothing_returned() -> None:
    bad = HEAD + ("90000X,A1,鈴木 一郎,スズキ,1975-13-05,男,横浜,米国,登録\n"
                  "900003,C1234567,,カナ,1980-01-01,X,横浜,米国,登録\n"
                  "900004,C7654321,\"改\n行\",カナ,1980-01-01,男,横浜,米国,登録\n")
    with pytest.raises(RollInvalid) as ei:
        P.parse_zaigai_csv(bad.encode("utf-8"), "z.csv")
    where = {(p.row, p.column) for p in ei.value.problems}
    assert where == {(2, "在外選挙人番号"), (2, "在外選挙人証番号"), (2, "生年月日"), (3, "氏名"), (3, "性別"),
                     (4, "氏名")}
    assert "取り込んでいません" in ei.value.message and "z.csv 2行目 列「生年月日」" in ei.value.message
    with pytest.raises(RollInvalid) as eh:
        P.parse_zaigai_csv("番号,氏名\n1,a\n".encode(), "z.csv")
    assert eh.value.code == "zaigai_header"


def _install(tdir, data: bytes) -> P.ZaigaiInstall:  # type: ignore[no-untyped-def]
    store = Store(tdir.store_path)
    try:
        return P.install_zaigai(store, open_zaigai_package(data, tdir.hq_roll_pub.read_bytes()), "yokohama-2027")
    finally:
        store.close()


def test_checkin_national_only_and_card_checked(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", station="E01")
    res = _install(tdir, publish_csv(make_hq(tmp_path / "hq"), tmp_path))
    assert (res.version, res.voters, res.designated, res.previous_version) == (1, 2, (), None)
    with Terminal(tdir, FixedClock(EARLY_NOON)) as t:
        assert P.zaigai_lookup(t.store, "９０００－０１").name == "鈴木 一郎"
        with pytest.raises(P.ZaigaiRefused) as ei:
            P.zaigai_checkin(t, "900001", "A0000000", "c1")
        assert ei.value.code == "zaigai_card_mismatch" and "在外選挙人証の番号が名簿と一致しません" in ei.value.message
        with pytest.raises(P.ZaigaiRefused) as ed:
            P.zaigai_checkin(t, "900002", "B7654321", "c1")
        assert ed.value.code == "not_eligible_deleted"
        marks = P.checkin_marks(t.station, oath_reason="lives_outside")
        r = P.zaigai_checkin(t, "900001", "ａ1234567", "c1", marks)  # typed in lower case, full width
        assert r.handed == ("shu", "shinsa")
        assert dict(r.refused)["governor"] == "在外選挙人は国政選挙だけです" and "mayor" in dict(r.refused)
        assert r.event is not None and r.event.data["voter"] == "Z:900001" and r.event.data["zaigai"] is True
        assert "在外選挙人証に投票済の記載" in r.text(t.config)
        again = P.zaigai_checkin(t, "900001", "A1234567", "c1", marks)
        assert again.seq is None and "投票済です" in dict(again.refused)["shu"]
        assert P.station_figures(t).zaigai == 1


def test_day_station_only_when_designated_in_the_signed_package(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The whole path by command: HQ imports and publishes, the terminal installs, checks in."""
    tdir = terminal_dir(tmp_path / "t", station="D01")
    hq = make_hq(tmp_path / "hq")
    f = write_zaigai_csv(tmp_path / "zaigai.csv", GOOD)
    now = ELECTION_NOON.isoformat()
    checkin = ["terminal", "zaigai-checkin", str(tdir.root), "900001", "--card", "A1234567", "--now", now, "--json"]

    assert main(["hq", "zaigai-import", str(hq.root), str(f), "--json"]) == 0
    assert main(["hq", "zaigai-publish", str(hq.root), "--out", str(tmp_path / "z1.mbr"), "--json"]) == 0
    capsys.readouterr()
    assert main(["terminal", "install-zaigai", str(tdir.root), str(tmp_path / "z1.mbr"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["code"], out["version"], out["designated"]) == ("ok", 1, [])
    rc = main(checkin)
    assert rc != 0 and json.loads(capsys.readouterr().out)["code"] == "zaigai_station_not_designated"

    assert main(["hq", "zaigai-import", str(hq.root), str(f), "--designated", "D01", "C01", "--json"]) == 0
    assert main(["hq", "zaigai-publish", str(hq.root), "--out", str(tmp_path / "z2.mbr"), "--json"]) == 0
    pub = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (pub["version"], pub["designated"], pub["format"]) == (2, ["C01", "D01"], "meibo-zaigai/1")
    assert main(["terminal", "install-zaigai", str(tdir.root), str(tmp_path / "z2.mbr"), "--json"]) == 0
    capsys.readouterr()
    rc = main(checkin)
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["handed"] == ["shu", "shinsa"] and out["voter"] == "Z:900001"


def test_old_terminal_csv_import_is_gone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["terminal", "zaigai-import", "/nonexistent", "x.csv"])
    assert not hasattr(P, "import_zaigai")
