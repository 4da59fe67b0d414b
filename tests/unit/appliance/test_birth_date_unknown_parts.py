"""生年月日 不詳 (issue 19): partly unknown birth dates import with the unknown part explicit, never
guessed, and the 18-year rule says what it decided from the known part."""

from datetime import date

import pytest

from appliance.birthdate import BirthDate, from_canonical, parse_birth, reaches_age_by
from appliance.eligibility import Code, age_rule
from appliance.wareki import WarekiInvalid

ELECTION_DAY = date(2027, 4, 25)


@pytest.mark.parametrize("text, expected", [
    ("1945-00-00", BirthDate(1945)),
    ("1945-03-00", BirthDate(1945, 3)),
    ("昭和20年不詳", BirthDate(1945)),
    ("昭和20年3月不詳", BirthDate(1945, 3)),
    ("昭和２０年３月不詳", BirthDate(1945, 3)),
    ("平成元年不詳", BirthDate(1989)),
    ("不詳", BirthDate(None)),
    ("0000-00-00", BirthDate(None)),
    ("1985-04-01", BirthDate(1985, 4, 1)),
    ("昭和60年4月1日", BirthDate(1985, 4, 1)),
])
def test_register_forms_read_with_the_unknown_part_explicit(text: str, expected: BirthDate) -> None:
    b = parse_birth(text)
    assert b == expected
    assert from_canonical(b.canonical()) == b  # the package/store text reads back the same


def test_an_unknown_day_is_never_filled_in() -> None:
    b = parse_birth("1945-03-00")
    assert b.as_date() is None and b.day is None and b.canonical() == "1945-03-00" and b.ja() == "1945年3月不詳"


@pytest.mark.parametrize("text", ["1945-02-30", "1945-13-01", "1945-00-05", "0000-03-00", "昭和65年不詳",
                                  "昭和20年13月不詳", "1945-3", "不明", "", "昭和64年2月不詳"])
def test_malformed_or_impossible_without_a_mark_stays_an_error(text: str) -> None:
    with pytest.raises(WarekiInvalid):
        parse_birth(text)


def test_known_part_proving_18_passes() -> None:
    assert age_rule(BirthDate(1945), ELECTION_DAY) == (Code.OK, "")
    # born at the latest 2009-03-31: 18 reached on 2027-03-30, before election day
    assert age_rule(BirthDate(2009, 3), ELECTION_DAY)[0] is Code.OK


def test_known_part_proving_under_18_refuses() -> None:
    code, reason = age_rule(BirthDate(2010), ELECTION_DAY)
    assert code is Code.UNDERAGE and "18歳未満" in reason


@pytest.mark.parametrize("birth", [BirthDate(None), BirthDate(2009), BirthDate(2009, 4)])
def test_known_part_that_cannot_tell_asks_for_an_id(birth: BirthDate) -> None:
    code, reason = age_rule(birth, ELECTION_DAY)
    assert code is Code.AGE_CONFIRM_ID and code.value == "age_confirm_id"
    assert "本人確認書類" in reason


def test_month_boundary_of_the_age_rule() -> None:
    # born in April 2009: 2009-04-26 turns 18 on 2027-04-25 (the day before the birthday), 04-27 does not
    assert reaches_age_by(BirthDate(2009, 4, 26), ELECTION_DAY) is True
    assert reaches_age_by(BirthDate(2009, 4, 27), ELECTION_DAY) is False
    assert reaches_age_by(BirthDate(2009, 4), ELECTION_DAY) is None
    assert reaches_age_by(BirthDate(2009, 5), ELECTION_DAY) is False
