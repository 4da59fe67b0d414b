"""A 住民記録-style export with 生年月日 不詳 rows and 宛名番号 (issue 19 part 1), end to end through
``meibo``: roll check counts 不詳 and 年齢確認 rows, roll import (through a column map, and the plain
CSV path) keeps the unknown parts and the 宛名番号, publish signs them, install-roll stores them,
lookup shows them in 和暦 and finds them by a date they may be, HQ lists the voters whose age needs
an ID check, and the terminal asks for that check before a ballot."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from appliance.atena import check_digit
from appliance.eligibility import Code
from appliance.terminal import Terminal
from cli.main import main
from ground.birthdate import BirthDate
from ground.clock import FixedClock
from hq.roll import age_checks
from tests.builders import jst
from tests.builders_roll import csv_text, make_pair


def _atena(body: str) -> str:
    return body + str(check_digit(body))


A1, A2, A3, A4, A5, A6 = (_atena(f"1234567890{i}") for i in range(1, 7))
BAD = A6[:-1] + str((int(A6[-1]) + 1) % 10)
HEADER = ["宛名番号", "世帯番号", "氏名", "フリガナ", "旧氏", "旧氏フリガナ", "生年月日", "性別", "住所", "投票区",
          "名簿番号"]
# election day 2027-04-25: 平成21年 (2009) is exactly 18 years before, so the year alone cannot tell
ROWS = [
    [A1, "0001", "山田　太郎", "ヤマダ タロウ", "", "", "昭和60年4月1日", "1", "横浜市中区1-1", "1", "0000000001"],
    [A2, "0002", "佐藤　花子", "サトウ ハナコ", "鈴木", "スズキ", "1945-00-00", "2", "横浜市中区2-2", "1", "0000000002"],
    [A3, "0003", "佐藤　一郎", "サトウ イチロウ", "", "", "昭和20年不詳", "1", "横浜市中区3-3", "1", "0000000003"],
    [A4, "0004", "佐藤　次郎", "サトウ ジロウ", "", "", "昭和20年3月不詳", "1", "横浜市中区4-4", "1", "0000000004"],
    [A5, "0005", "田中　三郎", "タナカ サブロウ", "", "", "不詳", "1", "横浜市中区5-5", "1", "0000000005"],
    [A6, "0006", "高橋　四郎", "タカハシ シロウ", "", "", "平成21年不詳", "1", "横浜市中区6-6", "1", "0000000006"],
]
MAP = """encoding = "auto"
ignore = ["旧氏", "旧氏フリガナ", "世帯番号"]
[columns]
voter_id = "名簿番号"
district = "投票区"
name = "氏名"
name_kana = "フリガナ"
birth_date = "生年月日"
sex = "性別"
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


def _run(capsys, *argv: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def, type-arg]
    rc = main([*argv, "--json"])
    return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_export_to_checkin(tmp_path: Path, capsys, encoding: str) -> None:  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path)
    hq, t = str(pair.hq.root), str(pair.terminal.root)
    export = _export(tmp_path / "jumin.csv", encoding)
    cmap = tmp_path / "map.toml"
    cmap.write_text(MAP, encoding="utf-8")

    rc, d = _run(capsys, "roll", "check", str(export), "--map", str(cmap), "--election-day", "2027-04-25")
    assert rc == 0 and d["counts"] == {"ok": 1, "birth_unknown": 5, "age_confirm": 2, "error": 0}
    rc = main(["roll", "check", str(export), "--map", str(cmap), "--election-day", "2027-04-25"])
    assert "生年月日不詳 5 行（うち年齢確認が必要 2 行）" in capsys.readouterr().out

    rc, d = _run(capsys, "roll", "import", hq, str(export), "--map", str(cmap), "--now", "2027-04-01T09:00")
    assert rc == 0 and d["rows"] == 6
    with sqlite3.connect(pair.hq.roll_db) as c:
        kept = c.execute("SELECT voter_id, birth_date, atena FROM roll ORDER BY voter_id").fetchall()
    assert kept == [("0000000001", "1985-04-01", A1), ("0000000002", "1945-00-00", A2),
                    ("0000000003", "1945-00-00", A3), ("0000000004", "1945-03-00", A4),
                    ("0000000005", "0000-00-00", A5), ("0000000006", "2009-00-00", A6)]
    checks = age_checks(pair.hq)
    assert [(a.voter_id, a.code, a.birth_ja) for a in checks] == [
        ("0000000006", "age_confirm_id", "平成21年不詳"), ("0000000005", "age_confirm_id", "不詳")]
    assert "本人確認書類" in checks[0].reason and checks[0].as_json()["birth_wareki"] == "平成21年不詳"
    rc, d = _run(capsys, "roll", "age-check", hq)
    assert rc == 0 and d["count"] == 2 and [v["voter_id"] for v in d["voters"]] == ["0000000006", "0000000005"]

    rc, d = _run(capsys, "roll", "publish", hq, "--out", str(tmp_path / "v1.mbr"), "--now", "2027-04-01T09:00")
    assert rc == 0 and d["row_count"] == 6
    rc, d = _run(capsys, "terminal", "install-roll", t, str(tmp_path / "v1.mbr"))
    assert rc == 0 and d["put"] == 6

    rc, d = _run(capsys, "terminal", "lookup", t, "--voter-id", "0000000004", "--now", "2027-04-20T12:00")
    assert rc == 0 and d["voters"][0]["birth_date"] == "1945-03-00"
    assert d["voters"][0]["birth_wareki"] == "昭和20年3月不詳" and d["voters"][0]["birth_unknown"] is True
    # narrowing by a full date finds that day and the 不詳 rows it may be, never another day
    rc, d = _run(capsys, "terminal", "lookup", t, "--kana", "サトウ", "--birth", "昭和20年3月10日",
                 "--now", "2027-04-20T12:00")
    assert rc == 0 and sorted(v["voter_id"] for v in d["voters"]) == ["0000000002", "0000000003", "0000000004"]
    rc, d = _run(capsys, "terminal", "lookup", t, "--kana", "サトウ", "--birth", "昭和20年4月10日",
                 "--now", "2027-04-20T12:00")
    assert sorted(v["voter_id"] for v in d["voters"]) == ["0000000002", "0000000003"]

    with Terminal(pair.terminal, FixedClock(jst(2027, 4, 20, 12))) as term:
        assert term.voter("0000000006").birth_date == BirthDate(2009)
        assert term.checkin("0000000003", "c1").recorded  # 昭和20年: the year proves it
        asked = term.checkin("0000000006", "c1")
        assert not asked.recorded and asked.decision.code is Code.AGE_CONFIRM_ID
        done = term.checkin("0000000006", "c1", {"age_confirmed": "mynumber"})
        assert done.recorded and done.event is not None and done.event.data["age_confirmed"] == "mynumber"


def test_bad_and_duplicate_atena_refused_naming_rows_changing_nothing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path)
    cmap = tmp_path / "map.toml"
    cmap.write_text(MAP, encoding="utf-8")
    rows = [ROWS[0], [BAD, *ROWS[5][1:]], [A1, *ROWS[2][1:]]]
    rc, d = _run(capsys, "roll", "import", str(pair.hq.root), str(_export(tmp_path / "bad.csv", "cp932", rows)),
                 "--map", str(cmap))
    assert rc != 0 and d["code"] == "roll_invalid"
    got = {(p["code"], p["row"], p["column"]) for p in d["problems"]}
    assert ("roll_atena_check_digit", 3, "宛名番号") in got and ("roll_duplicate_atena", 4, "宛名番号") in got
    dup = next(p for p in d["problems"] if p["code"] == "roll_duplicate_atena")
    assert "2行目" in dup["message"] and "4行目" in dup["message"]  # both rows named
    assert not pair.hq.roll_db.exists()


def test_plain_csv_path_keeps_unknown_dates_and_atena(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pair = make_pair(tmp_path)
    header = ["選挙人番号", "投票区", "氏名", "氏名カナ", "生年月日", "性別", "住所", "宛名番号", "旧氏"]
    rows = [["0000000001", "1", "山田 太郎", "ヤマダ タロウ", "昭和20年3月不詳", "男", "横浜市中区1-1", A1, "佐藤"],
            ["0000000002", "1", "山田 花子", "ヤマダ ハナコ", "1945-00-00", "女", "横浜市中区1-1", "", ""]]
    path = tmp_path / "plain.csv"
    path.write_bytes(csv_text(rows, header).encode("cp932"))
    rc, d = _run(capsys, "roll", "import", str(pair.hq.root), str(path), "--now", "2027-04-01T09:00")
    assert rc == 0 and d["rows"] == 2
    with sqlite3.connect(pair.hq.roll_db) as c:
        assert c.execute("SELECT birth_date, atena FROM roll ORDER BY voter_id").fetchall() == [
            ("1945-03-00", A1), ("1945-00-00", None)]
    bad = [["0000000003", "1", "山田 次郎", "ヤマダ ジロウ", "1945-02-30", "男", "横浜市中区1-1", "", ""],
           ["0000000004", "1", "山田 三郎", "ヤマダ サブロウ", "1945-00-00", "男", "横浜市中区1-1", A1, ""],
           ["0000000005", "1", "山田 四郎", "ヤマダ シロウ", "1945-00-00", "男", "横浜市中区1-1", A1, ""]]
    path.write_bytes(csv_text(bad, header).encode("utf-8"))
    rc, d = _run(capsys, "roll", "import", str(pair.hq.root), str(path))
    got = {(p["code"], p["row"], p["column"]) for p in d["problems"]}
    assert rc != 0 and ("roll_invalid", 2, "生年月日") in got  # impossible without a 不詳 mark: still an error
    assert ("roll_duplicate_atena", 4, "宛名番号") in got
    with sqlite3.connect(pair.hq.roll_db) as c:  # the refused file changed nothing
        assert c.execute("SELECT count(*) FROM roll").fetchone()[0] == 2
