"""在外選挙人名簿: CSV import (every problem with row and column, nothing imported), check-in of
national contests only at early or designated stations, 在外選挙人証 number checked, a second
visit hard-stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance import procedures as P
from appliance.cli import main
from appliance.clock import FixedClock
from appliance.errors import RollInvalid
from appliance.terminal import Terminal
from tests.builders import EARLY_NOON, ELECTION_NOON, terminal_dir

HEAD = "在外選挙人番号,在外選挙人証番号,氏名,氏名カナ,生年月日,性別,最終住所,居住国,状態\n"
GOOD = HEAD + ("900001,A1234567,鈴木 一郎,スズキ イチロウ,1975-05-05,男,横浜市中区本町1-1,アメリカ合衆国,登録\n"
               "900002,B7654321,伊藤 花子,イトウ ハナコ,1990-01-01,女,横浜市中区山下町2,フランス,抹消\n")


def _csv(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "zaigai.csv"
    p.write_bytes(("\ufeff" + text).encode("utf-8"))
    return p


def test_every_problem_named_and_nothing_imported(tmp_path: Path) -> None:
    bad = HEAD + ("90000X,A1,鈴木 一郎,スズキ,1975-13-05,男,横浜,米国,登録\n"
                  "900003,C1234567,,カナ,1980-01-01,X,横浜,米国,登録\n")
    with pytest.raises(RollInvalid) as ei:
        P.parse_zaigai_csv(bad.encode("utf-8"), "z.csv")
    where = {(p.row, p.column) for p in ei.value.problems}
    assert where == {(2, "在外選挙人番号"), (2, "在外選挙人証番号"), (2, "生年月日"), (3, "氏名"), (3, "性別")}
    assert "取り込んでいません" in ei.value.message
    with pytest.raises(RollInvalid) as eh:
        P.parse_zaigai_csv("番号,氏名\n1,a\n".encode(), "z.csv")
    assert eh.value.code == "zaigai_header"


def test_checkin_national_only_and_card_checked(tmp_path: Path) -> None:
    tdir = terminal_dir(tmp_path / "t", station="E01")
    with Terminal(tdir, FixedClock(EARLY_NOON)) as t:
        assert P.import_zaigai(t.store, _csv(tmp_path, GOOD)) == 2
        with pytest.raises(P.ZaigaiRefused) as ei:
            P.zaigai_checkin(t, "900001", "A0000000", "c1")
        assert ei.value.code == "zaigai_card_mismatch" and "在外選挙人証の番号が名簿と一致しません" in ei.value.message
        with pytest.raises(P.ZaigaiRefused) as ed:
            P.zaigai_checkin(t, "900002", "B7654321", "c1")
        assert ed.value.code == "not_eligible_deleted"
        marks = P.checkin_marks(t.station, oath_reason="lives_outside")
        r = P.zaigai_checkin(t, "900001", "ａ1234567".upper(), "c1", marks)
        assert r.handed == ("shu", "shinsa")
        assert dict(r.refused)["governor"] == "在外選挙人は国政選挙だけです" and "mayor" in dict(r.refused)
        assert r.event is not None and r.event.data["voter"] == "Z:900001" and r.event.data["zaigai"] is True
        assert "在外選挙人証に投票済の記載" in r.text(t.config)
        again = P.zaigai_checkin(t, "900001", "A1234567", "c1", marks)
        assert again.seq is None and "投票済です" in dict(again.refused)["shu"]
        assert P.station_figures(t).zaigai == 1


def test_day_station_only_when_designated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tdir = terminal_dir(tmp_path / "t", station="D01")
    f = _csv(tmp_path, GOOD)
    now = ELECTION_NOON.isoformat()
    assert main(["terminal", "zaigai-import", str(tdir.root), str(f), "--json"]) == 0
    capsys.readouterr()
    rc = main(["terminal", "zaigai-checkin", str(tdir.root), "900001", "--card", "A1234567", "--now", now, "--json"])
    assert rc != 0 and json.loads(capsys.readouterr().out)["code"] == "zaigai_station_not_designated"
    assert main(["terminal", "zaigai-import", str(tdir.root), str(f), "--designated", "D01", "--json"]) == 0
    capsys.readouterr()
    rc = main(["terminal", "zaigai-checkin", str(tdir.root), "900001", "--card", "A1234567", "--now", now, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["handed"] == ["shu", "shinsa"] and out["voter"] == "Z:900001"
