"""和暦 dates: era boundaries, 元年, short forms, full-width digits, display."""

from datetime import date

import pytest

from appliance.wareki import WarekiInvalid, parse_date, to_wareki


@pytest.mark.parametrize("text,expected", [
    ("昭和60年4月1日", date(1985, 4, 1)),
    ("昭和６０年４月１日", date(1985, 4, 1)),
    ("S60.4.1", date(1985, 4, 1)),
    ("s60/4/1", date(1985, 4, 1)),
    ("昭60.4.1", date(1985, 4, 1)),
    ("H1.1.8", date(1989, 1, 8)),
    ("平成元年1月8日", date(1989, 1, 8)),
    ("平成1年1月8日", date(1989, 1, 8)),
    ("昭和64年1月7日", date(1989, 1, 7)),
    ("平成31年4月30日", date(2019, 4, 30)),
    ("令和元年5月1日", date(2019, 5, 1)),
    ("R2.5.1", date(2020, 5, 1)),
    ("大正15年12月24日", date(1926, 12, 24)),
    ("昭和元年12月25日", date(1926, 12, 25)),
    ("明治45年7月29日", date(1912, 7, 29)),
    ("大正元年7月30日", date(1912, 7, 30)),
    ("1985-04-01", date(1985, 4, 1)),
    ("１９８５－０４－０１", date(1985, 4, 1)),
    ("1985/4/1", date(1985, 4, 1)),
    ("19850401", date(1985, 4, 1)),
    ("㍻元年1月8日", date(1989, 1, 8)),
])
def test_valid(text: str, expected: date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", [
    "昭和64年1月8日",  # 平成 began that day
    "平成31年5月1日",  # 令和 began that day
    "平成元年1月7日",  # still 昭和
    "令和元年4月30日",
    "大正15年12月25日",
    "昭和元年12月24日",
    "明治45年7月30日",
    "H0.1.1",
    "S60.2.30",  # no 30 February
    "1985-13-01",
    "昭和六十年",
    "",
    "x" * 100,
])
def test_invalid(text: str) -> None:
    with pytest.raises(WarekiInvalid):
        parse_date(text)


def test_display() -> None:
    assert to_wareki(date(1989, 1, 8)) == "平成元年1月8日"
    assert to_wareki(date(1989, 1, 7)) == "昭和64年1月7日"
    assert to_wareki(date(2020, 5, 1), short=True) == "R2.5.1"
