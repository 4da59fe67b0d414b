"""A voter who turns 18 by election day votes early only from the day the age is reached (the day
before the 18th birthday); before that the refusal points to 不在者投票 at the 選挙管理委員会."""

from datetime import date

from appliance.eligibility import Code, age_reached_on, decide
from tests.builders import ELECTION_NOON, election_config, jst, voter

CFG = election_config()
E01, C01 = CFG.station("E01"), CFG.station("C01")
TURNS_18 = voter("200001", birth_date=date(2009, 4, 23))  # reaches 18 on 2027-04-22


def test_refused_at_early_station_before_age_is_reached() -> None:
    d = decide(CFG, E01, TURNS_18, jst(2027, 4, 21, 12), {})
    assert {c.code for c in d.contests} == {Code.UNDERAGE_EARLY}
    assert "不在者投票" in d.contests[0].reason and "選挙管理委員会" in d.contests[0].reason


def test_allowed_on_the_day_before_the_birthday() -> None:
    d = decide(CFG, E01, TURNS_18, jst(2027, 4, 22, 9), {})
    assert [c.contest for c in d.handed] == ["shu", "shinsa", "governor", "mayor"]


def test_allowed_on_election_day() -> None:
    d = decide(CFG, C01, TURNS_18, ELECTION_NOON, {})
    assert d.code is Code.OK


def test_leap_day_birth_reaches_age_on_28_february() -> None:
    assert age_reached_on(date(2008, 2, 29)) == date(2026, 2, 28)
    assert age_reached_on(date(2009, 4, 23)) == date(2027, 4, 22)
