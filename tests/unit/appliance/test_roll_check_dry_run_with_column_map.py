"""``meibo roll check FILE --map M`` (issue 19): a municipality's own export read through a column
map (CP932 or UTF-8, its own headers and order, 旧氏 columns ignored), counted per status
(ok / 生年月日不詳 / error) with the first problems named by row and column, changing nothing."""

import csv
import io
import json
from pathlib import Path

import pytest

from appliance.rollcsv import parse_roll
from appliance.rollmap import check, load_map
from cli.main import main
from ground.errors import RollInvalid
from tests.builders_roll import csv_text, make_pair

IVS_NAME = "辻\U000E0100本　葛\U000E0101子"  # 辻 and 葛 with variation selectors (MJ 行政事務標準文字)
GAIJI_NAME = "\uE0A1田　一郎"  # a private-use 外字 as the municipality's system writes it

# As a 住民記録 system exports: its own order and headers, a 世帯番号 and 旧氏 columns, 和暦 dates.
HEADER = ["宛名番号", "世帯番号", "氏名", "フリガナ", "旧氏", "旧氏フリガナ", "生年月日", "性別", "住所", "投票区",
          "名簿番号"]
ROWS = [
    ["983205673214", "0001", "山田　太郎", "ヤマダ タロウ", "", "", "昭和60年4月1日", "1", "横浜市中区1-1", "1", "0000000001"],
    ["100000000013", "0002", IVS_NAME, "ツジモト カツコ", "佐藤", "サトウ", "昭和20年不詳", "2", "横浜市中区2-2", "1", "0000000002"],
    ["200000000000", "0003", GAIJI_NAME, "ヨシダ イチロウ", "", "", "1950-03-00", "1", "横浜市中区3-3", "2", "0000000003"],
    ["983205673210", "0004", "鈴木　花子", "スズキ ハナコ", "", "", "1970-02-30", "2", "横浜市中区4-4", "2", "0000000004"],
    ["983205673214", "0005", "佐藤　次郎", "サトウ ジロウ", "", "", "不詳", "1", "横浜市中区5-5", "1", "0000000005"],
]
MAP = """encoding = "{enc}"
ignore = ["旧氏", "旧氏フリガナ"]
[columns]
voter_id = "名簿番号"
district = "投票区"
name = "氏名"
name_kana = "フリガナ"
birth_date = "生年月日"
sex = 8
address = "住所"
atena = "宛名番号"
"""


def _export(path: Path, encoding: str, rows: list[list[str]] = ROWS) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_dry_run_counts_statuses_names_problems_and_changes_nothing(tmp_path: Path, capsys, encoding: str) -> None:  # type: ignore[no-untyped-def]
    rows = ROWS if encoding == "utf-8" else [r for r in ROWS if r[2] not in (IVS_NAME, GAIJI_NAME)]
    export = _export(tmp_path / "jumin.csv", encoding, rows)
    (tmp_path / "map.toml").write_text(MAP.format(enc=encoding), encoding="utf-8")
    before = _snapshot(tmp_path)
    rc = main(["roll", "check", str(export), "--map", str(tmp_path / "map.toml"), "--json"])
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert _snapshot(tmp_path) == before  # nothing created or modified
    assert rc == 1 and d["code"] == "roll_invalid"
    problems = {(p["row"], p["column"], p["code"]) for p in d["problems"]}
    bad_row = 5 if encoding == "utf-8" else 3
    assert (bad_row, "宛名番号", "roll_atena_check_digit") in problems
    assert (bad_row, "生年月日", "roll_invalid") in problems  # 2月30日 without a 不詳 mark stays an error
    assert (bad_row + 1, "宛名番号", "roll_duplicate_atena") in problems
    if encoding == "utf-8":
        assert d["counts"] == {"ok": 1, "birth_unknown": 2, "age_confirm": 0, "error": 2}
    else:
        assert d["counts"] == {"ok": 1, "birth_unknown": 0, "age_confirm": 0, "error": 2}


def test_text_output_says_nothing_changed(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    export = _export(tmp_path / "jumin.csv", "utf-8", ROWS[:3])
    (tmp_path / "map.toml").write_text(MAP.format(enc="auto"), encoding="utf-8")
    rc = main(["roll", "check", str(export), "--map", str(tmp_path / "map.toml")])
    out = capsys.readouterr().out
    assert rc == 0 and "正常 1 行、生年月日不詳 2 行、誤り 0 行" in out and "何も変更していません" in out


def test_ivs_and_gaiji_rows_with_unknown_dates_check_clean(tmp_path: Path) -> None:
    export = _export(tmp_path / "jumin.csv", "utf-8", ROWS[1:3])
    (tmp_path / "map.toml").write_text(MAP.format(enc="utf-8"), encoding="utf-8")
    rep = check(export, load_map(tmp_path / "map.toml"))
    assert rep.problem_total == 0 and rep.counts["birth_unknown"] == 2


@pytest.mark.parametrize("text, where", [
    ('[columns]\nvoter_id = "番号"\n', "必須の項目"),
    ('encoding = "euc-jp"\n[columns]\n', "encoding"),
    ('[columns]\nshimei = "氏名"\n', "columns.shimei"),
    ('[columns\n', "TOML"),
])
def test_bad_map_refused_naming_the_key(tmp_path: Path, text: str, where: str) -> None:
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    with pytest.raises(RollInvalid) as e:
        load_map(tmp_path / "m.toml")
    assert e.value.code == "roll_map_invalid" and where in e.value.message


def test_a_mapped_header_missing_from_the_export_is_named(tmp_path: Path) -> None:
    export = _export(tmp_path / "jumin.csv", "utf-8", ROWS[:1])
    (tmp_path / "map.toml").write_text(MAP.format(enc="utf-8").replace('"名簿番号"', '"選挙人番号"'),
                                       encoding="utf-8")
    rep = check(export, load_map(tmp_path / "map.toml"))
    assert [(p.row, p.column, p.code) for p in rep.problems] == [(1, "選挙人番号", "roll_missing_column")]


def _import(capsys, hq: str, export: Path, cmap: Path) -> tuple[int, dict]:  # type: ignore[no-untyped-def, type-arg]
    rc = main(["roll", "import", hq, str(export), "--map", str(cmap), "--now", "2027-04-01T09:00", "--json"])
    return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_import_with_map_reads_the_export_and_refuses_bad_atena_changing_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path)
    (tmp_path / "map.toml").write_text(MAP.format(enc="cp932"), encoding="utf-8")
    good = [ROWS[0], ["100000000013", "0002", "渡邊　葛子", "ワタナベ カツコ", "佐藤", "サトウ", "S20.3.1", "2",
                      "横浜市中区2-2", "1", "0000000002"]]
    rc, d = _import(capsys, str(pair.hq.root), _export(tmp_path / "ok.csv", "cp932", good), tmp_path / "map.toml")
    assert rc == 0 and d["rows"] == 2
    assert pair.hq.roll_db.exists()
    before = _snapshot(pair.hq.root)
    rc, d = _import(capsys, str(pair.hq.root), _export(tmp_path / "bad.csv", "cp932", [ROWS[0], ROWS[4]]),
                    tmp_path / "map.toml")
    assert rc != 0 and ("roll_duplicate_atena", 3, "宛名番号") in {(p["code"], p["row"], p["column"]) for p in d["problems"]}
    assert _snapshot(pair.hq.root) == before  # refused before the roll was opened


def test_import_with_map_keeps_unknown_dates_and_atena(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # Issue 19: a 不詳 row imports with its unknown part (it used to be refused as roll_birth_unknown).
    pair = make_pair(tmp_path)
    (tmp_path / "map.toml").write_text(MAP.format(enc="utf-8"), encoding="utf-8")
    rc, d = _import(capsys, str(pair.hq.root), _export(tmp_path / "u.csv", "utf-8", ROWS[:2]), tmp_path / "map.toml")
    assert rc == 0 and d["rows"] == 2
    import sqlite3
    with sqlite3.connect(pair.hq.roll_db) as c:
        rows = c.execute("SELECT voter_id, birth_date, atena FROM roll ORDER BY voter_id").fetchall()
    assert rows == [("0000000001", "1985-04-01", "983205673214"), ("0000000002", "1945-00-00", "100000000013")]


def test_cp932_gaiji_in_the_user_defined_area_imports_as_the_same_private_use_character(tmp_path: Path) -> None:
    # CP932 exports carry 外字 as user-defined codes 0xF040–0xF9FC, which read as U+E000–U+E757
    data = csv_text([["0000000001", "1", GAIJI_NAME, "ヨシダ イチロウ", "1985-04-01", "男", "横浜市中区3-3"]]).encode("cp932")
    assert b"\xf0\xe2" in data  # U+E0A1 as the export writes it
    (v,) = parse_roll(data)
    assert v.name == GAIJI_NAME and v.name.encode("utf-8") == GAIJI_NAME.encode("utf-8")
