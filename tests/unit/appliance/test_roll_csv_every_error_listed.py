"""Roll CSV import: every bad field is listed with file, row and column; nothing is returned."""

from datetime import date

import pytest

from ground.errors import RollInvalid
from ground.model import DisplayReason, Sex, Status
from appliance.rollcsv import Limits, parse_roll
from tests.builders_roll import BASE_ROWS, HEADER_EN, csv_text


def problems_of(text: str, **kw: object) -> list[tuple[int | None, str | None, str]]:
    with pytest.raises(RollInvalid) as e:
        parse_roll(text.encode("utf-8"), "roll.csv", **kw)  # type: ignore[arg-type]
    assert all(p.file == "roll.csv" for p in e.value.problems)
    return [(p.row, p.column, p.message) for p in e.value.problems]


def test_base_roll_parses_every_status() -> None:
    voters = parse_roll(csv_text(BASE_ROWS).encode())
    assert [v.status for v in voters] == [Status.REGISTERED, Status.REGISTERED, Status.DELETED,
                                          Status.DISPLAYED, Status.DISPLAYED]
    assert voters[1].name == "髙橋 花子" and voters[1].name_kana == "タカハシ ハナコ"
    assert voters[1].birth_date.as_date() == date(1985, 4, 1)
    assert voters[2].name_kana == "ヤマザキ イチロウ" and voters[2].sex is Sex.MALE
    assert voters[3].display_reason is DisplayReason.MOVED and voters[3].moved_within_prefecture is True
    assert voters[3].moved_on == date(2027, 3, 1) and voters[3].birth_date.as_date() == date(1989, 1, 8)
    assert voters[4].display_reason is DisplayReason.LOST_RIGHTS and voters[4].moved_on is None


def test_all_errors_listed_with_row_and_column() -> None:
    rows = [
        ["0000000001", "1", "佐藤 太郎", "サトウ タロウ", "1985-04-01", "男", "横浜市"],  # row 2: fine
        ["00000000x2", "一", "", "佐藤", "昭和64年1月8日", "X", ""],  # row 3: seven problems
        ["0000000003", "1", "A", "エー", "1985-04-01", "女", "横浜市", "表示"],  # row 4: 表示 without kind
        ["0000000001", "1", "B", "ビー", "1985-04-01", "女", "横浜市"],  # row 5: duplicate id
        ["0000000004", "1", "C", "シー", "1985-04-01", "女", "横浜市", "登録", "転出"],  # row 6: reason on 登録
        ["0000000005", "1", "D", "ディー", "1985-04-01", "女", "横浜市", "表示", "転出", "", "隣県"],  # row 7
    ]
    got = problems_of(csv_text(rows))
    where = {(r, c) for r, c, _ in got}
    assert {(3, "選挙人番号"), (3, "投票区"), (3, "氏名"), (3, "氏名カナ"), (3, "生年月日"), (3, "性別"),
            (3, "住所")} <= where
    assert (4, "表示事由") in where
    assert any(r == 5 and c == "選挙人番号" and "重複" in m and "2行目" in m for r, c, m in got)
    assert (6, "表示事由") in where
    assert (7, "転出日") in where and (7, "転出先") in where
    assert not any(r == 2 for r, _, _ in got)


def test_english_aliases_and_extra_columns() -> None:
    header = HEADER_EN + ["household"]
    rows = [r + [""] * (11 - len(r)) + ["H1"] for r in BASE_ROWS]
    rows[3][9] = "R9.3.1"  # 和暦 moved_on
    rows[3][10] = "within"
    voters = parse_roll(csv_text(rows, header).encode())
    assert len(voters) == 5 and voters[3].moved_on == date(2027, 3, 1)


def test_missing_and_duplicate_columns_reported_on_header_row() -> None:
    got = problems_of("選挙人番号,投票区,氏名,氏名カナ,生年月日,性別,voter_id\n1,1,a,ア,1985-04-01,男,1\n")
    assert (1, "住所") in {(r, c) for r, c, _ in got}
    assert any(r == 1 and c == "voter_id" for r, c, _ in got)


def test_row_numbers_are_file_lines_with_blank_lines() -> None:
    text = csv_text(BASE_ROWS[:1]) + "\n\n" + "0000000009,1,x,エックス,1985-04-01,Q,横浜市,,,,\n"
    got = problems_of(text)
    assert got[0][:2] == (5, "性別")


def test_wrong_column_count() -> None:
    got = problems_of(csv_text(BASE_ROWS[:1]) + "1,2,3\n")
    assert got[0][0] == 3 and "列の数" in got[0][2]


def test_field_too_long_and_control_chars() -> None:
    rows = [["0000000001", "1", "佐藤" * 200, "サトウ", "1985-04-01", "男", "横浜市"],
            ["0000000002", "1", '"a\tb"', "サトウ", "1985-04-01", "男", "横浜市"]]
    got = problems_of(csv_text(rows))
    assert (2, "氏名") in {(r, c) for r, c, _ in got}
    assert (3, "氏名") in {(r, c) for r, c, _ in got}


def test_file_size_limit() -> None:
    with pytest.raises(RollInvalid) as e:
        parse_roll(csv_text(BASE_ROWS).encode(), limits=Limits(max_file_bytes=100))
    assert e.value.code == "roll_too_large"


def test_problem_list_is_bounded() -> None:
    rows = [[f"{i:010d}", "1", "a", "ア", "1985-04-01", "?", "x"] for i in range(50)]
    with pytest.raises(RollInvalid) as e:
        parse_roll(csv_text(rows).encode(), limits=Limits(max_problems=10))
    assert len(e.value.problems) == 11 and "ほか 40 件" in e.value.problems[-1].message


def test_under_18_on_election_day_refused_but_18_tomorrow_accepted() -> None:
    ok = ["0000000001", "1", "a", "ア", "2009-04-26", "男", "x"]  # 18 the day after 2027-04-25
    young = ["0000000002", "1", "b", "イ", "2009-04-27", "男", "x"]
    got = problems_of(csv_text([ok, young]), election_day=date(2027, 4, 25))
    assert [(r, c) for r, c, _ in got] == [(3, "生年月日")]


def test_empty_roll_refused() -> None:
    with pytest.raises(RollInvalid):
        parse_roll(csv_text([]).encode())
